/* cuda_table.c - the table of the cuda backend (backend.h): cuBLAS for the
 * dense layers, cuDNN for convolution, own kernels for everything else; the
 * functions are in the .cu files of this directory (cuda_backend.h lists
 * them). Tested op by op against ref (tests/unit/test_backend_ops.c cuda,
 * 1e-4 with TF32 off) and against PyTorch (tests/unit/test_parity.c cuda);
 * both skip (exit 77) where no GPU is visible.
 */
#include "backend/backend_impl.h"
#include "backend/cuda/cuda_backend.h"

const Backend nn_backend_cuda = {
    .name = "cuda",
    .host_memory = 0,
    .alloc = alloc_cuda,
    .free = free_cuda,
    .upload = upload_cuda,
    .download = download_cuda,
    .copy = copy_cuda,
    .zero = zero_cuda,
    .sync = sync_cuda,
    .gather_batch = gather_batch_cuda,
    .linear_forward = linear_forward_cuda,
    .linear_backward = linear_backward_cuda,
    .conv2d_workspace_floats = conv2d_workspace_floats_cuda,
    .conv2d_forward = conv2d_forward_cuda,
    .conv2d_backward = conv2d_backward_cuda,
    .maxpool2d_forward = maxpool2d_forward_cuda,
    .maxpool2d_backward = maxpool2d_backward_cuda,
    .batchnorm_forward_train = batchnorm_forward_train_cuda,
    .batchnorm_forward_eval = batchnorm_forward_eval_cuda,
    .batchnorm_backward = batchnorm_backward_cuda,
    .act_forward = act_forward_cuda,
    .act_backward = act_backward_cuda,
    .dropout_forward = dropout_forward_cuda,
    .mul = mul_cuda,
    .softmax_xent = softmax_xent_cuda,
    .sgd_step = sgd_step_cuda,
    .adam_step = adam_step_cuda,
    .set_precision = set_precision_cuda,
};
