/* ref.h - private to the reference backend (src/backend/ref/): its
 * functions. ref.c holds the plain ops, ref_fused.c the fused ops (each
 * the sequence of plain ops it is specified by: backend.h, "fused ops"),
 * ref_table.c the table nn_backend_ref built from them.
 */
#ifndef NNSWEEP_REF_H
#define NNSWEEP_REF_H

#include "backend/backend_impl.h"

/* The plain ops (ref.c), each the `_ref` twin of the op of the same name
 * in backend.h; linear_backward_dx_ref is linear_backward_ref's dx, which
 * linear_backward_sgd_ref shares. */
void gather_batch_ref(const uint8_t *images, const uint8_t *labels, const int32_t *idx, int B,
                      const BatchSpec *spec, float *x, int32_t *y);
void linear_forward_ref(const float *x, const float *w, const float *bias, float *y, int B, int C,
                        int OC);
void linear_backward_ref(const float *dy, const float *x, const float *w, float *dx, float *dw,
                         float *db, int B, int C, int OC);
void linear_backward_dx_ref(const float *dy, const float *w, float *dx, int B, int C, int OC);
size_t conv2d_workspace_floats_ref(const ConvShape *s);
void conv2d_forward_ref(const float *x, const float *w, const float *bias, float *y,
                        const ConvShape *s, float *ws);
void conv2d_backward_ref(const float *dy, const float *x, const float *w, float *dx, float *dw,
                         float *db, const ConvShape *s, float *ws);
void maxpool2d_forward_ref(const float *x, float *y, int32_t *idx, const PoolShape *s);
void maxpool2d_backward_ref(const float *dy, const int32_t *idx, float *dx, const PoolShape *s);
void batchnorm_forward_train_ref(const float *x, const float *gamma, const float *beta, float *y,
                                 float *save_mean, float *save_invstd, float *running_mean,
                                 float *running_var, int B, int C, int HW, float momentum,
                                 float eps);
void batchnorm_forward_eval_ref(const float *x, const float *gamma, const float *beta,
                                const float *running_mean, const float *running_var, float *y,
                                int B, int C, int HW, float eps);
void batchnorm_backward_ref(const float *dy, const float *x, const float *gamma,
                            const float *save_mean, const float *save_invstd, float *dx,
                            float *dgamma, float *dbeta, int B, int C, int HW);
void act_forward_ref(ActKind k, const float *x, float *y, size_t n);
void act_backward_ref(ActKind k, const float *x, const float *y, const float *dy, float *dx,
                      size_t n);
void dropout_forward_ref(const float *x, float *y, float *mask, size_t n, int group, float p,
                         uint64_t seed, uint64_t hi);
void mul_ref(const float *a, const float *b, float *y, size_t n);
void softmax_xent_ref(const float *logits, const int32_t *labels, int B, int K,
                      float label_smoothing, float *dlogits, double *acc);
void sgd_step_ref(float *w, const float *g, float *buf, size_t n, float lr, float momentum,
                  float wd, int nesterov, int first);
void adam_step_ref(float *w, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                   float beta2, float eps, float wd, int decoupled, int step);

/* The fused ops (ref_fused.c): the plain ops above in sequence. */
void linear_forward_act_ref(const float *x, const float *w, const float *bias, float *y, int B,
                            int C, int OC, ActKind act);
void linear_backward_sgd_ref(const float *dy, const float *x, float *w, float *bias, float *dx,
                             int B, int C, int OC, float lr, float wd);
void conv2d_forward_act_pool_ref(const FusedGroup *g, const FusedTensors *t);
void conv2d_backward_act_pool_ref(const FusedGroup *g, const FusedTensors *t);
size_t batchnorm_act_pool_workspace_floats_ref(const FusedGroup *g);
void batchnorm_act_pool_forward_ref(const FusedGroup *g, const FusedTensors *t, int train);
void batchnorm_act_pool_backward_ref(const FusedGroup *g, const FusedTensors *t);
void conv2d_backward_bn_act_pool_ref(const FusedGroup *g, const FusedTensors *t);
void conv2d_forward_bn_act_pool_ref(const FusedGroup *g, const FusedTensors *t);

#endif
