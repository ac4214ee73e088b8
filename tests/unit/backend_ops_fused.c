/* backend_ops_fused.c - test_backend_ops: the fused ops of backend.h, on
 * test_backend_ops.c's harness (backend_ops.h).
 *
 * Each fused op is checked twice: ref's fused op against the sequence of
 * ref's plain ops it is specified by (exactly: the same float operations),
 * then the backend's fused op against ref's at TOL, on odd sizes and B = 1,
 * with every output and the workspace filled with NaN first. A backend whose
 * entry is NULL skips that op with a message (the model then runs the plain
 * ops).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend_ops.h"
#include "check.h"
#include "nnsweep/backend.h"
#include "nnsweep/core.h"

/* ---- linear + act, linear backward + SGD ----------------------------------------- */

void test_linear_fused(void)
{
    static const int shapes[][3] = {{1, 1, 1}, {1, 7, 3}, {5, 13, 11}, {33, 257, 10},
                                    {32, 3072, 256}, {64, 40, 600}, {3, 300, 70}};
    static const ActKind acts[] = {ACT_RELU, ACT_TANH, ACT_GELU, ACT_LEAKY_RELU};
    /* 5e-2: the decay's share of the update, lr wd |w| <= 5e-3 / sqrt(C),
     * is above the 1e-5 tolerance (at 5e-4 a backend that ignored wd in
     * the fused update passed) */
    static const float wds[] = {0.0f, 5e-4f, 5e-2f};
    if (!T->linear_forward_act || !T->linear_backward_sgd)
        printf("%s: linear_forward_act / linear_backward_sgd not available: skipped\n", T->name);
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        int B = shapes[k][0], C = shapes[k][1], OC = shapes[k][2];
        float r = 1.0f / sqrtf((float)C);
        float *x = hrand((size_t)B * C, -1, 1), *w = hrand((size_t)OC * C, -r, r);
        float *b = hrand(OC, -r, r), *dy = hrand((size_t)B * OC, -1, 1);
        char what[96];
        ActKind act = acts[k % 4];
        /* forward: ref fused == ref linear then act, exactly */
        float *y = hnan((size_t)B * OC), *y2 = hnan((size_t)B * OC);
        R->linear_forward_act(x, w, b, y, B, C, OC, act);
        R->linear_forward(x, w, b, y2, B, C, OC);
        R->act_forward(act, y2, y2, (size_t)B * OC);
        snprintf(what, sizeof what, "ref linear_forward_act == sequence (%d,%d,%d)", B, C, OC);
        check_close(what, y, y2, (size_t)B * OC, 0, 0);
        if (T->linear_forward_act) {
            float *d_y = dnan((size_t)B * OC);
            T->linear_forward_act(dfloats(x, (size_t)B * C), dfloats(w, (size_t)OC * C),
                                  dfloats(b, OC), d_y, B, C, OC, act);
            snprintf(what, sizeof what, "linear_forward_act y (%d,%d,%d)", B, C, OC);
            cmp(what, d_y, y, (size_t)B * OC);
        }
        for (int wi = 0; wi < 3; wi++) {
            float lr = 0.1f, wd = wds[wi];
            /* ref fused == ref linear_backward then sgd_step (momentum 0), exactly */
            float *w1 = hfloats((size_t)OC * C), *b1 = hfloats(OC), *dx1 = hnan((size_t)B * C);
            float *w2 = hfloats((size_t)OC * C), *b2 = hfloats(OC), *dx2 = hnan((size_t)B * C);
            float *dw = hnan((size_t)OC * C), *db = hnan(OC);
            memcpy(w1, w, sizeof(float) * OC * C), memcpy(w2, w, sizeof(float) * OC * C);
            memcpy(b1, b, sizeof(float) * OC), memcpy(b2, b, sizeof(float) * OC);
            R->linear_backward_sgd(dy, x, w1, b1, dx1, B, C, OC, lr, wd);
            R->linear_backward(dy, x, w2, dx2, dw, db, B, C, OC);
            R->sgd_step(w2, dw, NULL, (size_t)OC * C, lr, 0.0f, wd, 0, 1);
            R->sgd_step(b2, db, NULL, OC, lr, 0.0f, wd, 0, 1);
            snprintf(what, sizeof what, "ref linear_backward_sgd == sequence (%d,%d,%d wd %g)", B,
                     C, OC, wd);
            check_close(what, w1, w2, (size_t)OC * C, 0, 0);
            check_close(what, b1, b2, OC, 0, 0);
            check_close(what, dx1, dx2, (size_t)B * C, 0, 0);
            if (!T->linear_backward_sgd) continue;
            for (int with_dx = 0; with_dx < 2; with_dx++) {
                float *d_w = dfloats(w, (size_t)OC * C), *d_b = dfloats(b, OC);
                float *d_dx = with_dx ? dnan((size_t)B * C) : NULL;
                T->linear_backward_sgd(dfloats(dy, (size_t)B * OC), dfloats(x, (size_t)B * C), d_w,
                                       d_b, d_dx, B, C, OC, lr, wd);
                snprintf(what, sizeof what, "linear_backward_sgd w (%d,%d,%d wd %g dx %d)", B, C,
                         OC, wd, with_dx);
                cmp(what, d_w, w1, (size_t)OC * C);
                cmp("linear_backward_sgd b", d_b, b1, OC);
                if (with_dx) cmp("linear_backward_sgd dx", d_dx, dx1, (size_t)B * C);
            }
        }
        release_all();
    }
}

/* ---- conv + act + max pool ---------------------------------------------------------- */

void test_conv_fused(void)
{
    static const int shapes[][8] = {
        /* B, C, H, W, OC, K, pad, pool */
        {1, 1, 5, 5, 1, 3, 0, 1},  {2, 3, 7, 9, 4, 3, 1, 2},   {3, 5, 8, 6, 7, 5, 2, 2},
        {1, 3, 32, 32, 16, 5, 0, 2}, {4, 16, 14, 14, 32, 5, 0, 2}, {2, 4, 9, 9, 3, 1, 0, 3},
        {9, 3, 11, 10, 8, 3, 3, 2}, {3, 6, 9, 7, 5, 2, 1, 1},  {32, 32, 5, 5, 8, 5, 3, 2},
    };
    static const ActKind acts[] = {ACT_RELU, ACT_TANH, ACT_LEAKY_RELU, ACT_SIGMOID};
    if (!T->conv2d_forward_act_pool || !T->conv2d_backward_act_pool) {
        printf("%s: conv2d_forward_act_pool / conv2d_backward_act_pool not available: skipped\n",
               T->name);
        return;
    }
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        ConvShape s = conv_shape(shapes[k]);
        int pool = shapes[k][7];
        ActKind act = acts[k % 4];
        PoolShape ps = {s.B, s.OC, s.OH, s.OW, pool, s.OH / pool, s.OW / pool};
        size_t nx = (size_t)s.B * s.C * s.H * s.W, nw = (size_t)s.OC * s.C * s.K * s.K;
        size_t nc = (size_t)s.B * s.OC * s.OH * s.OW;
        size_t ny = pool > 1 ? (size_t)s.B * s.OC * ps.OH * ps.OW : nc;
        float r = 1.0f / sqrtf((float)(s.C * s.K * s.K));
        float *x = hrand(nx, -1, 1), *w = hrand(nw, -r, r), *b = hrand(s.OC, -r, r);
        float *dy = hrand(ny, -1, 1);
        /* the plain sequence on ref */
        float *yc = hnan(nc), *ya = hnan(nc), *y = hnan(ny), *d1 = hnan(nc), *d2 = hnan(nc);
        float *dx = hnan(nx), *dw = hnan(nw), *db = hnan(s.OC);
        int32_t *idx = hbuf(sizeof(int32_t) * ny);
        R->conv2d_forward(x, w, b, yc, &s, NULL);
        R->act_forward(act, yc, ya, nc);
        if (pool > 1) {
            R->maxpool2d_forward(ya, y, idx, &ps);
            R->maxpool2d_backward(dy, idx, d1, &ps);
        } else {
            memcpy(y, ya, sizeof(float) * nc);
            memcpy(d1, dy, sizeof(float) * nc);
        }
        R->act_backward(act, yc, ya, d1, d2, nc);
        R->conv2d_backward(d2, x, w, dx, dw, db, &s, NULL);
        /* ref's fused ops against it, exactly */
        FusedGroup g = conv_group(&s, act, pool);
        size_t nws_r = R->conv2d_workspace_floats(&s);
        float *fdb = hnan(s.OC);
        FusedTensors ft = {.x = x, .w = w, .b = b, .y = hnan(ny), .idx = hbuf(sizeof(int32_t) * ny),
                           .dy = dy, .dx = hnan(nx), .dw = hnan(nw), .db = fdb,
                           .ws = hnan(nws_r)};
        R->conv2d_forward_act_pool(&g, &ft);
        R->conv2d_backward_act_pool(&g, &ft);
        char what[128];
        snprintf(what, sizeof what,
                 "ref conv2d_*_act_pool == sequence (B%d C%d H%d OC%d K%d pad%d P%d)", s.B, s.C,
                 s.H, s.OC, s.K, s.pad, pool);
        check_close(what, ft.y, y, ny, 0, 0);
        check_close(what, ft.dx, dx, nx, 0, 0);
        check_close(what, ft.dw, dw, nw, 0, 0);
        check_close(what, fdb, db, s.OC, 0, 0);
        /* the backend's fused ops against ref's */
        size_t nws = T->conv2d_workspace_floats(&s);
        int32_t *d_idx = dcopy(hnan(ny), sizeof(int32_t) * ny);
        FusedTensors dt = {.x = dfloats(x, nx), .w = dfloats(w, nw), .b = dfloats(b, s.OC),
                           .y = dnan(ny), .idx = pool > 1 ? d_idx : NULL, .dy = dfloats(dy, ny),
                           .dx = dnan(nx), .dw = dnan(nw), .db = dnan(s.OC),
                           .ws = dnan(nws ? nws : 1)};
        T->conv2d_forward_act_pool(&g, &dt);
        snprintf(what, sizeof what, "conv2d_forward_act_pool y (B%d C%d H%d OC%d K%d pad%d P%d)",
                 s.B, s.C, s.H, s.OC, s.K, s.pad, pool);
        cmp(what, dt.y, y, ny);
        if (pool > 1) cmp_ints("conv2d_forward_act_pool idx", d_idx, idx, ny);
        dt.idx = d_idx;
        T->conv2d_backward_act_pool(&g, &dt);
        cmp("conv2d_backward_act_pool dx", dt.dx, dx, nx);
        /* dw and db add B*OH*OW terms: at the terms' magnitudes (cmp_mag; the
         * cpu backend's Winograd dw is ~4e-5 off on the C 16 and 32 shapes) */
        float *mdw = hnan(nw), *mdb = hnan(s.OC);
        conv_term_magnitudes(d2, x, w, &s, NULL, mdw, mdb);
        cmp_mag("conv2d_backward_act_pool dw", dt.dw, dw, mdw, nw, TOL);
        cmp_mag("conv2d_backward_act_pool db", dt.db, db, mdb, s.OC, TOL);
        dt.dx = NULL; /* first layer */
        dt.dw = dnan(nw);
        dt.db = dnan(s.OC);
        dt.ws = dnan(nws ? nws : 1);
        T->conv2d_backward_act_pool(&g, &dt);
        cmp_mag("conv2d_backward_act_pool dw (dx NULL)", dt.dw, dw, mdw, nw, TOL);
        release_all();
    }
}

/* ---- batch norm + act + max pool --------------------------------------------------- */

void test_batchnorm_fused(void)
{
    static const int shapes[][5] = {/* B, C, H, W, pool */
                                    {2, 3, 4, 4, 2},  {1, 4, 5, 7, 2},   {5, 7, 3, 3, 1},
                                    {32, 8, 28, 28, 2}, {3, 5, 9, 8, 3}, {8, 16, 10, 10, 2}};
    static const ActKind acts[] = {ACT_RELU, ACT_TANH, ACT_LEAKY_RELU, ACT_SIGMOID};
    if (!T->batchnorm_act_pool_forward || !T->batchnorm_act_pool_backward ||
        !T->batchnorm_act_pool_workspace_floats) {
        printf("%s: batchnorm_act_pool_* not available: skipped\n", T->name);
        return;
    }
    const float momentum = 0.1f, eps = 1e-5f;
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        int B = shapes[k][0], C = shapes[k][1], H = shapes[k][2], W = shapes[k][3];
        int pool = shapes[k][4], HW = H * W;
        ActKind act = acts[k % 4];
        PoolShape ps = {B, C, H, W, pool, H / pool, W / pool};
        size_t n = (size_t)B * C * HW, ny = pool > 1 ? (size_t)B * C * ps.OH * ps.OW : n;
        float *x = hfloats(n);
        for (size_t i = 0; i < n; i++) x[i] = urand(-2, 2) + 0.3f * (float)((i / HW) % C);
        float *gamma = hrand(C, 0.5f, 1.5f), *beta = hrand(C, -0.5f, 0.5f);
        float *rm0 = hrand(C, -0.1f, 0.1f), *rv0 = hrand(C, 0.5f, 1.5f), *dy = hrand(ny, -1, 1);
        /* the plain sequence on ref: train forward, backward, then eval forward */
        float *rm = hfloats(C), *rv = hfloats(C), *mean = hnan(C), *inv = hnan(C);
        memcpy(rm, rm0, sizeof(float) * C), memcpy(rv, rv0, sizeof(float) * C);
        float *yb = hnan(n), *ya = hnan(n), *y = hnan(ny), *d1 = hnan(n), *d2 = hnan(n);
        float *dx = hnan(n), *dg = hnan(C), *db = hnan(C), *ye = hnan(ny);
        int32_t *idx = hbuf(sizeof(int32_t) * ny);
        R->batchnorm_forward_train(x, gamma, beta, yb, mean, inv, rm, rv, B, C, HW, momentum, eps);
        R->act_forward(act, yb, ya, n);
        if (pool > 1) {
            R->maxpool2d_forward(ya, y, idx, &ps);
            R->maxpool2d_backward(dy, idx, d1, &ps);
        } else {
            memcpy(y, ya, sizeof(float) * n), memcpy(d1, dy, sizeof(float) * n);
        }
        R->act_backward(act, yb, ya, d1, d2, n);
        R->batchnorm_backward(d2, x, gamma, mean, inv, dx, dg, db, B, C, HW);
        R->batchnorm_forward_eval(x, gamma, beta, rm, rv, yb, B, C, HW, eps);
        R->act_forward(act, yb, ya, n);
        if (pool > 1)
            R->maxpool2d_forward(ya, ye, NULL, &ps);
        else
            memcpy(ye, ya, sizeof(float) * n);
        /* ref's fused ops against it, exactly */
        FusedGroup g = bn_group(B, C, H, W, act, pool);
        float *ws_r = hnan(R->batchnorm_act_pool_workspace_floats(&g));
        float *frm = hfloats(C), *frv = hfloats(C), *fmean = hnan(C), *finv = hnan(C);
        memcpy(frm, rm0, sizeof(float) * C), memcpy(frv, rv0, sizeof(float) * C);
        float *fy = hnan(ny), *fdx = hnan(n), *fdg = hnan(C), *fdb = hnan(C), *fye = hnan(ny);
        int32_t *fidx = hbuf(sizeof(int32_t) * ny);
        FusedTensors ft = {.x = x, .gamma = gamma, .beta = beta, .running_mean = frm,
                           .running_var = frv, .save_mean = fmean, .save_invstd = finv, .y = fy,
                           .idx = fidx, .dy = dy, .dx = fdx, .dgamma = fdg, .dbeta = fdb,
                           .ws = ws_r};
        R->batchnorm_act_pool_forward(&g, &ft, 1);
        R->batchnorm_act_pool_backward(&g, &ft);
        FusedTensors fe = {.x = x, .gamma = gamma, .beta = beta, .running_mean = frm,
                           .running_var = frv, .y = fye, .ws = ws_r};
        R->batchnorm_act_pool_forward(&g, &fe, 0);
        char what[128];
        snprintf(what, sizeof what, "ref batchnorm_act_pool == sequence (B%d C%d H%d W%d P%d)", B,
                 C, H, W, pool);
        check_close(what, fy, y, ny, 0, 0);
        check_close(what, fdx, dx, n, 0, 0);
        check_close(what, fdg, dg, C, 0, 0);
        check_close(what, fdb, db, C, 0, 0);
        check_close(what, frv, rv, C, 0, 0);
        check_close(what, fye, ye, ny, 0, 0);
        /* the backend's against ref's */
        size_t nws = T->batchnorm_act_pool_workspace_floats(&g);
        float *d_ws = dnan(nws ? nws : 1), *d_x = dfloats(x, n), *d_g = dfloats(gamma, C);
        float *d_b = dfloats(beta, C), *d_rm = dfloats(rm0, C), *d_rv = dfloats(rv0, C);
        float *d_mean = dnan(C), *d_inv = dnan(C), *d_y = dnan(ny), *d_dx = dnan(n);
        float *d_dg = dnan(C), *d_db = dnan(C), *d_ye = dnan(ny);
        int32_t *d_idx = dcopy(hnan(ny), sizeof(int32_t) * ny);
        FusedTensors dt = {.x = d_x, .gamma = d_g, .beta = d_b, .running_mean = d_rm,
                           .running_var = d_rv, .save_mean = d_mean, .save_invstd = d_inv,
                           .y = d_y, .idx = pool > 1 ? d_idx : NULL, .ws = d_ws};
        T->batchnorm_act_pool_forward(&g, &dt, 1);
        snprintf(what, sizeof what, "batchnorm_act_pool_forward y (B%d C%d H%d W%d P%d)", B, C, H,
                 W, pool);
        cmp(what, d_y, y, ny);
        if (pool > 1) cmp_ints("batchnorm_act_pool_forward idx", d_idx, idx, ny);
        cmp("batchnorm_act_pool_forward save_mean", d_mean, mean, C);
        cmp("batchnorm_act_pool_forward save_invstd", d_inv, inv, C);
        cmp("batchnorm_act_pool_forward running_mean", d_rm, rm, C);
        cmp("batchnorm_act_pool_forward running_var", d_rv, rv, C);
        /* backward and eval from ref's statistics and output, each op alone */
        int32_t *d_idx1 = dcopy(idx, sizeof(int32_t) * ny);
        FusedTensors db_t = {.x = d_x, .gamma = d_g, .save_mean = dfloats(mean, C),
                             .save_invstd = dfloats(inv, C), .y = dfloats(y, ny), .idx = d_idx1,
                             .dy = dfloats(dy, ny), .dx = d_dx, .dgamma = d_dg, .dbeta = d_db,
                             .ws = d_ws};
        T->batchnorm_act_pool_backward(&g, &db_t);
        cmp("batchnorm_act_pool_backward dx", d_dx, dx, n);
        cmp("batchnorm_act_pool_backward dgamma", d_dg, dg, C);
        cmp("batchnorm_act_pool_backward dbeta", d_db, db, C);
        FusedTensors de = {.x = d_x, .gamma = d_g, .beta = d_b, .running_mean = dfloats(rm, C),
                           .running_var = dfloats(rv, C), .y = d_ye, .ws = d_ws};
        T->batchnorm_act_pool_forward(&g, &de, 0);
        cmp("batchnorm_act_pool_forward eval y", d_ye, ye, ny);
        release_all();
    }
}

/* ---- conv + batch norm + act + max pool: the train forward and the backward ---------- */

void test_conv_bn_fused(void)
{
    static const int shapes[][8] = {
        /* B, C, H, W, OC, K, pad, pool */
        {1, 1, 5, 5, 1, 3, 0, 1},    {2, 3, 7, 9, 4, 3, 1, 2},   {3, 5, 8, 6, 7, 5, 2, 2},
        {32, 3, 32, 32, 8, 5, 0, 2}, {9, 3, 11, 10, 8, 3, 3, 2}, {5, 6, 9, 7, 5, 2, 1, 1},
        {8, 16, 14, 14, 12, 5, 3, 3},
        /* the cpu backend's Winograd forward, dw and dx convolution */
        {4, 16, 10, 10, 16, 5, 2, 2},
    };
    static const ActKind acts[] = {ACT_RELU, ACT_TANH, ACT_LEAKY_RELU, ACT_SIGMOID};
    if (!T->conv2d_backward_bn_act_pool || !T->conv2d_forward_bn_act_pool) {
        printf("%s: conv2d_*_bn_act_pool not available: skipped\n", T->name);
        return;
    }
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        ConvShape s = conv_shape(shapes[k]);
        int pool = shapes[k][7], OC = s.OC;
        ActKind act = acts[k % 4];
        size_t nx = (size_t)s.B * s.C * s.H * s.W, nw = (size_t)OC * s.C * s.K * s.K;
        size_t nz = (size_t)s.B * OC * s.OH * s.OW;
        size_t ny = pool > 1 ? (size_t)s.B * OC * (s.OH / pool) * (s.OW / pool) : nz;
        float r = 1.0f / sqrtf((float)(s.C * s.K * s.K));
        float *x = hrand(nx, -1, 1), *w = hrand(nw, -r, r), *b = hrand(OC, -r, r);
        /* images of different means, so that a channel's planes have
         * different means too (the statistics merged from the planes') */
        for (size_t i = 0; i < nx; i++) x[i] += 0.5f * (float)(i / (nx / s.B) % 3);
        float *gamma = hrand(OC, 0.5f, 1.5f), *beta = hrand(OC, -0.5f, 0.5f);
        float *rm = hrand(OC, -0.1f, 0.1f), *rv = hrand(OC, 0.5f, 1.5f), *dy = hrand(ny, -1, 1);
        /* ref's forward (conv, then the batch norm group) gives the inputs */
        float *z = hnan(nz), *y = hnan(ny), *mean = hnan(OC), *inv = hnan(OC);
        float *rm1 = hfloats(OC), *rv1 = hfloats(OC), *zp = pool > 1 ? hnan(ny) : NULL;
        memcpy(rm1, rm, sizeof(float) * OC), memcpy(rv1, rv, sizeof(float) * OC);
        int32_t *idx = hbuf(sizeof(int32_t) * ny);
        FusedGroup g = conv_group(&s, act, pool);
        float *ws_f = hnan(R->batchnorm_act_pool_workspace_floats(&g));
        R->conv2d_forward(x, w, b, z, &s, NULL);
        FusedTensors bt = {.x = z, .gamma = gamma, .beta = beta, .running_mean = rm1,
                           .running_var = rv1, .save_mean = mean, .save_invstd = inv, .y = y,
                           .idx = idx, .ws = ws_f};
        R->batchnorm_act_pool_forward(&g, &bt, 1);
        size_t P = (size_t)s.OH * s.OW, yp = ny / ((size_t)s.B * OC);
        for (size_t i = 0; zp && i < ny; i++) zp[i] = z[i / yp * P + (size_t)idx[i]];
        /* the fused forward: ref's against the sequence, exactly, then the
         * backend's against ref's */
        char what[128];
        snprintf(what, sizeof what,
                 "ref conv2d_forward_bn_act_pool == sequence (B%d C%d H%d OC%d K%d pad%d P%d)",
                 s.B, s.C, s.H, OC, s.K, s.pad, pool);
        float *fz = hnan(nz), *fy = hnan(ny), *fzp = pool > 1 ? hnan(ny) : NULL;
        float *fmean = hnan(OC), *finv = hnan(OC), *frm = hfloats(OC), *frv = hfloats(OC);
        int32_t *fidx = hbuf(sizeof(int32_t) * ny);
        memcpy(frm, rm, sizeof(float) * OC), memcpy(frv, rv, sizeof(float) * OC);
        FusedTensors ft = {.x = x, .w = w, .b = b, .gamma = gamma, .beta = beta,
                           .running_mean = frm, .running_var = frv, .save_mean = fmean,
                           .save_invstd = finv, .z = fz, .y = fy, .idx = fidx, .zp = fzp,
                           .ws = hnan(conv2d_bn_workspace_floats(R, &g))};
        R->conv2d_forward_bn_act_pool(&g, &ft);
        check_close(what, fz, z, nz, 0, 0);
        check_close(what, fy, y, ny, 0, 0);
        CHECK(pool == 1 || memcmp(fidx, idx, sizeof(int32_t) * ny) == 0, "%s: idx", what);
        if (zp) check_close(what, fzp, zp, ny, 0, 0);
        check_close(what, fmean, mean, OC, 0, 0);
        check_close(what, finv, inv, OC, 0, 0);
        check_close(what, frm, rm1, OC, 0, 0);
        check_close(what, frv, rv1, OC, 0, 0);
        {
            float *d_z = dnan(nz), *d_y = dnan(ny), *d_zp = zp ? dnan(ny) : NULL;
            float *d_mean = dnan(OC), *d_inv = dnan(OC), *d_rm = dfloats(rm, OC);
            float *d_rv = dfloats(rv, OC);
            int32_t *d_idx = dcopy(hnan(ny), sizeof(int32_t) * ny);
            FusedTensors dt = {.x = dfloats(x, nx), .w = dfloats(w, nw), .b = dfloats(b, OC),
                               .gamma = dfloats(gamma, OC), .beta = dfloats(beta, OC),
                               .running_mean = d_rm, .running_var = d_rv, .save_mean = d_mean,
                               .save_invstd = d_inv, .z = d_z, .y = d_y, .idx = d_idx,
                               .zp = d_zp, .ws = dnan(conv2d_bn_workspace_floats(T, &g))};
            T->conv2d_forward_bn_act_pool(&g, &dt);
            snprintf(what, sizeof what,
                     "conv2d_forward_bn_act_pool z (B%d C%d H%d OC%d K%d pad%d P%d)", s.B, s.C,
                     s.H, OC, s.K, s.pad, pool);
            cmp(what, d_z, z, nz);
            cmp("conv2d_forward_bn_act_pool y", d_y, y, ny);
            if (pool > 1) {
                cmp_ints("conv2d_forward_bn_act_pool idx", d_idx, idx, ny);
                cmp("conv2d_forward_bn_act_pool zp", d_zp, zp, ny);
            }
            cmp("conv2d_forward_bn_act_pool save_mean", d_mean, mean, OC);
            cmp("conv2d_forward_bn_act_pool save_invstd", d_inv, inv, OC);
            cmp("conv2d_forward_bn_act_pool running_mean", d_rm, rm1, OC);
            cmp("conv2d_forward_bn_act_pool running_var", d_rv, rv1, OC);
        }
        /* the sequence it is specified by, on ref */
        float *dz = hnan(nz), *dg = hnan(OC), *dbe = hnan(OC), *dx = hnan(nx), *dw = hnan(nw);
        float *db = hnan(OC);
        FusedTensors bb = {.x = z, .gamma = gamma, .save_mean = mean, .save_invstd = inv, .y = y,
                           .idx = idx, .dy = dy, .dx = dz, .dgamma = dg, .dbeta = dbe, .ws = ws_f};
        R->batchnorm_act_pool_backward(&g, &bb);
        R->conv2d_backward(dz, x, w, dx, dw, db, &s, NULL);
        /* ref's fused op against it, exactly */
        float *ws_r = hnan(conv2d_bn_workspace_floats(R, &g));
        float *fdg = hnan(OC), *fdbe = hnan(OC), *fdx = hnan(nx), *fdw = hnan(nw), *fdb = hnan(OC);
        FusedTensors fb = {.x = x, .w = w, .gamma = gamma, .save_mean = mean, .save_invstd = inv,
                           .z = z, .y = y, .idx = idx, .zp = zp, .dy = dy, .dx = fdx, .dw = fdw,
                           .db = fdb, .dgamma = fdg, .dbeta = fdbe, .ws = ws_r};
        R->conv2d_backward_bn_act_pool(&g, &fb);
        snprintf(what, sizeof what,
                 "ref conv2d_backward_bn_act_pool == sequence (B%d C%d H%d OC%d K%d pad%d P%d)",
                 s.B, s.C, s.H, OC, s.K, s.pad, pool);
        check_close(what, fdg, dg, OC, 0, 0);
        check_close(what, fdbe, dbe, OC, 0, 0);
        check_close(what, fdx, dx, nx, 0, 0);
        check_close(what, fdw, dw, nw, 0, 0);
        check_close(what, fdb, db, OC, 0, 0);
        /* the magnitudes of dw's and db's terms */
        float *mdw = hnan(nw), *mdb = hnan(OC);
        conv_term_magnitudes(dz, x, w, &s, NULL, mdw, mdb);
        /* the backend's against ref's, then as a first layer (dx NULL) */
        size_t nws = conv2d_bn_workspace_floats(T, &g);
        int32_t *d_idx = dcopy(idx, sizeof(int32_t) * ny);
        float *d_y = dfloats(y, ny), *d_z = dfloats(z, nz), *d_g = dfloats(gamma, OC);
        float *d_mean = dfloats(mean, OC), *d_inv = dfloats(inv, OC), *d_x = dfloats(x, nx);
        float *d_w = dfloats(w, nw), *d_dy = dfloats(dy, ny), *d_zp = zp ? dfloats(zp, ny) : NULL;
        float *d_dg = dnan(OC), *d_dbe = dnan(OC), *d_dx = dnan(nx), *d_dw = dnan(nw);
        float *d_db = dnan(OC);
        FusedTensors db_t = {.x = d_x, .w = d_w, .gamma = d_g, .save_mean = d_mean,
                             .save_invstd = d_inv, .z = d_z, .y = d_y, .idx = d_idx, .zp = d_zp,
                             .dy = d_dy, .dx = d_dx, .dw = d_dw, .db = d_db, .dgamma = d_dg,
                             .dbeta = d_dbe, .ws = dnan(nws)};
        T->conv2d_backward_bn_act_pool(&g, &db_t);
        snprintf(what, sizeof what,
                 "conv2d_backward_bn_act_pool (B%d C%d H%d OC%d K%d pad%d P%d)", s.B, s.C, s.H,
                 OC, s.K, s.pad, pool);
        cmp(what, d_dg, dg, OC);
        cmp("conv2d_backward_bn_act_pool dbeta", d_dbe, dbe, OC);
        cmp("conv2d_backward_bn_act_pool dx", d_dx, dx, nx);
        cmp_mag("conv2d_backward_bn_act_pool dw", d_dw, dw, mdw, nw, 0);
        cmp_mag("conv2d_backward_bn_act_pool db", d_db, db, mdb, OC, 0);
        float *d_dw2 = dnan(nw), *d_db2 = dnan(OC), *d_dg2 = dnan(OC), *d_dbe2 = dnan(OC);
        db_t.dx = NULL; /* first layer */
        db_t.dw = d_dw2;
        db_t.db = d_db2;
        db_t.dgamma = d_dg2;
        db_t.dbeta = d_dbe2;
        db_t.ws = dnan(nws);
        T->conv2d_backward_bn_act_pool(&g, &db_t);
        cmp_mag("conv2d_backward_bn_act_pool dw (dx NULL)", d_dw2, dw, mdw, nw, 0);
        cmp("conv2d_backward_bn_act_pool dgamma (dx NULL)", d_dg2, dg, OC);
        release_all();
    }
}
