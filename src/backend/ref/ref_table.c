/* ref_table.c - the table of the reference backend (backend.h): the plain
 * ops of ref.c, the fused ops of ref_fused.c (ref.h lists them). The
 * specification the cpu and cuda backends are tested against
 * (tests/unit/test_backend_ops.c).
 */
#include "backend/ref/ref.h"

const Backend nn_backend_ref = {
    .name = "ref",
    .host_memory = 1,
    .alloc = alloc_ref,
    .free = free_ref,
    .upload = upload_ref,
    .download = download_ref,
    .copy = copy_ref,
    .zero = zero_ref,
    .sync = sync_ref,
    .gather_batch = gather_batch_ref,
    .linear_forward = linear_forward_ref,
    .linear_backward = linear_backward_ref,
    .conv2d_workspace_floats = conv2d_workspace_floats_ref,
    .conv2d_forward = conv2d_forward_ref,
    .conv2d_backward = conv2d_backward_ref,
    .maxpool2d_forward = maxpool2d_forward_ref,
    .maxpool2d_backward = maxpool2d_backward_ref,
    .batchnorm_forward_train = batchnorm_forward_train_ref,
    .batchnorm_forward_eval = batchnorm_forward_eval_ref,
    .batchnorm_backward = batchnorm_backward_ref,
    .act_forward = act_forward_ref,
    .act_backward = act_backward_ref,
    .dropout_forward = dropout_forward_ref,
    .mul = mul_ref,
    .softmax_xent = softmax_xent_ref,
    .sgd_step = sgd_step_ref,
    .adam_step = adam_step_ref,
    .linear_forward_act = linear_forward_act_ref,
    .linear_backward_sgd = linear_backward_sgd_ref,
    .conv2d_forward_act_pool = conv2d_forward_act_pool_ref,
    .conv2d_backward_act_pool = conv2d_backward_act_pool_ref,
    .batchnorm_act_pool_workspace_floats = batchnorm_act_pool_workspace_floats_ref,
    .batchnorm_act_pool_forward = batchnorm_act_pool_forward_ref,
    .batchnorm_act_pool_backward = batchnorm_act_pool_backward_ref,
    .conv2d_backward_bn_act_pool = conv2d_backward_bn_act_pool_ref,
    .conv2d_forward_bn_act_pool = conv2d_forward_bn_act_pool_ref,
};
