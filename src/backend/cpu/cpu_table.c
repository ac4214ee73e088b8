/* cpu_table.c - the table of the cpu backend (backend.h): OpenBLAS for the
 * products, the pool of cpu_pool.c for the threads, kernels of its own for
 * the rest; the functions are in the files of this folder (cpu.h lists
 * them). Every op computes what its twin in ref.c computes (the
 * specification; tests/unit/test_backend_ops.c checks them against each
 * other to 1e-5); only the order of float operations differs, and never
 * with the number of threads (cpu_pool.c; for the products, cpu_gemm.c).
 */
#include "backend/cpu/cpu.h"

/* Memory ops are those of ref (host memory: memcpy/memset are already
 * optimal), except alloc, which aligns to 64 bytes. */
const Backend nn_backend_cpu = {
    .name = "cpu",
    .host_memory = 1,
    .alloc = alloc_cpu,
    .free = free_ref,
    .upload = upload_ref,
    .download = download_ref,
    .copy = copy_ref,
    .zero = zero_ref,
    .sync = sync_ref,
    .gather_batch = gather_batch_cpu,
    .linear_forward = linear_forward_cpu,
    .linear_backward = linear_backward_cpu,
    .conv2d_workspace_floats = conv2d_workspace_floats_cpu,
    .conv2d_forward = conv2d_forward_cpu,
    .conv2d_backward = conv2d_backward_cpu,
    .maxpool2d_forward = maxpool2d_forward_cpu,
    .maxpool2d_backward = maxpool2d_backward_cpu,
    .batchnorm_forward_train = batchnorm_forward_train_cpu,
    .batchnorm_forward_eval = batchnorm_forward_eval_cpu,
    .batchnorm_backward = batchnorm_backward_cpu,
    .act_forward = act_forward_cpu,
    .act_backward = act_backward_cpu,
    .dropout_forward = dropout_forward_cpu,
    .mul = mul_cpu,
    .softmax_xent = softmax_xent_cpu,
    .sgd_step = sgd_step_cpu,
    .adam_step = adam_step_cpu,
    .linear_forward_act = linear_forward_act_cpu,
    .linear_backward_sgd = linear_backward_sgd_cpu,
    .conv2d_forward_act_pool = conv2d_forward_act_pool_cpu,
    .conv2d_backward_act_pool = conv2d_backward_act_pool_cpu,
    .batchnorm_act_pool_workspace_floats = batchnorm_act_pool_workspace_floats_cpu,
    .batchnorm_act_pool_forward = batchnorm_act_pool_forward_cpu,
    .batchnorm_act_pool_backward = batchnorm_act_pool_backward_cpu,
    .conv2d_backward_bn_act_pool = conv2d_backward_bn_act_pool_cpu,
    .conv2d_forward_bn_act_pool = conv2d_forward_bn_act_pool_cpu,
};
