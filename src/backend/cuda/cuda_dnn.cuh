/* cuda_dnn.cuh - between the cuda backend's convolution ops (cuda_conv.cu:
 * operands, workspace, alignment, bfloat16 copies) and cuDNN's plans
 * (cuda_dnn.cu: every cuDNN call, algorithm choice and fallback). Included
 * by those two .cu files only. */
#ifndef NNSWEEP_CUDA_DNN_CUH
#define NNSWEEP_CUDA_DNN_CUH

#include "backend/cuda/cuda_common.cuh"

/* The three directions of a convolution. */
enum { NN_DNN_FWD = 0, NN_DNN_DATA, NN_DNN_FILTER };
/* What nn_dnn_run did. */
enum { NN_DNN_RAN = 0, NN_DNN_RETRY, NN_DNN_FAILED };

typedef struct NnDnnPlan NnDnnPlan; /* owned by cuda_dnn.cu's table */

extern "C" {
/* The plan of shape s in the current precision (nn_cuda_precision), made
 * on first use and kept for the process; NULL after recording a failed
 * run (cuDNN could not start for lack of GPU memory, or offers no fp32
 * algorithm for s). */
NnDnnPlan *nn_dnn_plan(const ConvShape *s);
/* The precision the plan runs in: the asked one, or fp32 where cuDNN has
 * nothing in it (NN_CUDA_*). Tensors are bfloat16 in bf16, float else. */
int nn_dnn_precision(const NnDnnPlan *p);
/* Bytes of cuDNN workspace its first-choice algorithms need. */
size_t nn_dnn_workspace_bytes(const NnDnnPlan *p);
/* "B32 C3 H32 W32 OC256 K5 pad3 fp32", for messages. */
void nn_dnn_text(const NnDnnPlan *p, char *buf, size_t size);
/* Runs direction d of p on device pointers in the plan's data type:
 *   NN_DNN_FWD     out y = conv(a x, b w)
 *   NN_DNN_DATA    out dx from a w, b dy
 *   NN_DNN_FILTER  out dw from a x, b dy
 * with cuDNN's workspace ws of ws_bytes, every pointer 16-byte aligned
 * (cuda_conv.cu checks). Returns NN_DNN_RAN; NN_DNN_RETRY when the plan
 * now runs in fp32 (its asked precision had no algorithm left that runs:
 * start the call again, the data type changed); NN_DNN_FAILED after
 * recording a failed run (then p may have been freed: do not use it). */
int nn_dnn_run(NnDnnPlan *p, int d, const void *a, const void *b, void *out, void *ws,
               size_t ws_bytes);
}

#endif
