/* backend_impl.h - private to src/backend (and the backend tests): what the
 * backends share: the three tables, the CUDA hooks of the registry
 * (backend.c), the host memory ops of ref and cpu, and the CIFAR-10 image
 * geometry of gather_batch. Nothing outside src/backend and tests/
 * includes it. Each backend's own internals are private to its folder:
 * ref/ref.h, cpu/cpu.h (and cpu_conv.h), cuda/cuda_backend.h; the per-element
 * math that cpu and cuda share is shared_math.h.
 *
 * The CUDA backend (src/backend/cuda/) defines nn_backend_cuda and the
 * hooks with C linkage; they are declared only when the build defines
 * NNSWEEP_HAVE_CUDA, so a CPU-only build has no reference to them. The cpu
 * backend defines backend.h's backend_cpu_* itself.
 */
#ifndef NNSWEEP_BACKEND_IMPL_H
#define NNSWEEP_BACKEND_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "nnsweep/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the tables (static storage, never freed) ------------------------- */
extern const Backend nn_backend_ref; /* ref/ref_table.c */
extern const Backend nn_backend_cpu; /* cpu/cpu_table.c */
#ifdef NNSWEEP_HAVE_CUDA
extern const Backend nn_backend_cuda; /* cuda/cuda_table.c */

/* ---- the cuda backend's hooks for the registry (cuda/cuda_context.cu) ---- */
/* Nonzero when a CUDA device is visible and usable by this process. */
int nn_cuda_available(void);
/* GPUs visible (honouring CUDA_VISIBLE_DEVICES); 0 when there is no driver
 * or no device. Never aborts. */
int nn_cuda_device_count(void);
/* Chooses GPU i for this process; before the first allocation (a later call
 * with another i aborts). */
void nn_cuda_use_device(int i);
/* Why no GPU can be used although an NVIDIA driver is installed (e.g. one
 * too old for this CUDA runtime: both versions and what is needed); "" on
 * a machine without a driver or where a GPU is usable. Static storage.
 * nn_cuda_device_count prints it once when it returns 0 for that reason. */
const char *nn_cuda_unusable_reason(void);
/* The failed run the ops recorded (cuda_backend.h, "failed runs"): copies
 * its message into msg (size bytes) and clears it: 1; 0 when none. */
int nn_cuda_take_failure(char *msg, size_t size);
#endif

/* ---- CIFAR-10 image geometry used by gather_batch ----------------------- */
#define NN_IMG_CH 3    /* channels */
#define NN_IMG_SIDE 32 /* height = width */
#define NN_IMG_PIXELS (NN_IMG_CH * NN_IMG_SIDE * NN_IMG_SIDE)
#define NN_CROP_PAD 4 /* zero pixels on each side before the random crop */
#define NN_CROP_SPAN (2 * NN_CROP_PAD + 1) /* window offsets 0..8 */

/* ---- host memory ops, shared by ref and cpu (ref/ref.c) ----------------
 * alloc: zeroed host memory, NULL when malloc fails (never aborts); a
 * request of 0 bytes returns a valid, freeable pointer. */
void *alloc_ref(size_t bytes);
void free_ref(void *p);
void upload_ref(void *dst, const void *host_src, size_t bytes);
void download_ref(void *host_dst, const void *src, size_t bytes);
void copy_ref(void *dst, const void *src, size_t bytes);
void zero_ref(void *p, size_t bytes);
void sync_ref(void);

#ifdef __cplusplus
}
#endif

#endif
