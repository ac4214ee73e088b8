/* tensor.h - the description of one named tensor of a model's state: what
 * the results file stores as one weights dataset, what MPI sends and what
 * the parity tests compare. Header only, core level: results and the
 * scheduler use it without knowing the model (nn fills it, model.h). */
#ifndef NNSWEEP_TENSOR_H
#define NNSWEEP_TENSOR_H

#include <stddef.h>

typedef struct TensorInfo {
    char name[48];   /* e.g. "conv0.weight", "bn2.running_var", "fc1.bias" */
    int ndim;
    int shape[4];    /* PyTorch layout; shape[ndim..3] unused */
    size_t offset;   /* in floats, into the state vector (model_state layout:
                      * contiguous, parameters then buffers, no padding) */
    size_t n;        /* number of floats: the product of the shape */
    int is_buffer;   /* batch-norm running statistics: no gradient */
} TensorInfo;

#endif
