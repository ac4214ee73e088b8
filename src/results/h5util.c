/* h5util.c - the schema's HDF5 types, error messages, attribute helpers,
 * name checks and the schema check shared by the writer and the readers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results/results_internal.h"

/* The file's status strings are run_status_name's (outcome.h). */
_Static_assert(RUN_STATUS_COUNT == 6, "results.h schema lists six statuses");

/* ---- errors ---------------------------------------------------------------- */

void rs_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static herr_t innermost(unsigned n, const H5E_error2_t *e, void *data)
{
    if (n == 0 && e->desc) rs_copy_str(data, 400, e->desc);
    return 0;
}

/* The innermost message of the last failure that a helper noted before its
 * cleanup calls (each HDF5 API call clears the stack on entry). */
static char noted[400];

void rs_note(void)
{
    char detail[400] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, detail);
    if (detail[0]) memcpy(noted, detail, sizeof noted);
}

void rs_h5detail(char *buf, size_t size)
{
    char detail[400] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, detail);
    H5Eclear2(H5E_DEFAULT);
    if (!detail[0]) memcpy(detail, noted, sizeof detail);
    noted[0] = 0;
    rs_copy_str(buf, size, detail);
}

NnStatus rs_h5err(NnError *err, const char *path, const char *fmt, ...)
{
    char detail[400];
    rs_h5detail(detail, sizeof detail);
    char op[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op, sizeof op, fmt, ap);
    va_end(ap);
    if (detail[0])
        return nn_error_set(err, NN_ERR_IO, "%s: %s: %s", path, op, detail);
    return nn_error_set(err, NN_ERR_IO, "%s: %s failed", path, op);
}

void rs_copy_str(char *dst, size_t size, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n >= size) {
        n = size - 1;
        /* step back over UTF-8 continuation bytes of a cut character */
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    }
    if (n) memcpy(dst, s, n);
    memset(dst + n, 0, size - n);
}

int rs_valid_sweep_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < RESULTS_SWEEP_LEN && !strchr(s, '/') && strcmp(s, ".") != 0 &&
           strcmp(s, "..") != 0;
}

int rs_valid_run_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= RESULTS_RUN_ID_LEN) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 ch == '_' || ch == '-';
        if (!ok) return 0;
    }
    return 1;
}

/* ---- types ----------------------------------------------------------------- */

static hid_t fixed_str(size_t n)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    NN_CHECK(t >= 0 && H5Tset_size(t, n) >= 0 && H5Tset_strpad(t, H5T_STR_NULLTERM) >= 0 &&
                 H5Tset_cset(t, H5T_CSET_UTF8) >= 0,
             "HDF5: cannot build a string type");
    return t;
}

static void insert(hid_t t, const char *name, size_t off, hid_t member)
{
    NN_CHECK(H5Tinsert(t, name, off, member) >= 0, "HDF5: cannot build compound member %s", name);
}

const RsTypes *rs_types(void)
{
    static RsTypes t;
    static int built;
    if (built) return &t;

    t.bool_t = H5Tenum_create(H5T_NATIVE_INT8);
    int8_t v = 0;
    NN_CHECK(t.bool_t >= 0 && H5Tenum_insert(t.bool_t, "FALSE", &v) >= 0, "HDF5: bool type");
    v = 1;
    NN_CHECK(H5Tenum_insert(t.bool_t, "TRUE", &v) >= 0, "HDF5: bool type");

    t.vstr = H5Tcopy(H5T_C_S1);
    NN_CHECK(t.vstr >= 0 && H5Tset_size(t.vstr, H5T_VARIABLE) >= 0 &&
                 H5Tset_cset(t.vstr, H5T_CSET_UTF8) >= 0,
             "HDF5: string type");

    hid_t s_id = fixed_str(RESULTS_RUN_ID_LEN), s_sweep = fixed_str(RESULTS_SWEEP_LEN);
    hid_t s_status = fixed_str(RESULTS_STATUS_LEN), s_host = fixed_str(RESULTS_HOST_LEN);
    hid_t s_dev = fixed_str(RESULTS_DEVICE_LEN), s_msg = fixed_str(RESULTS_MESSAGE_LEN);
    hid_t r = H5Tcreate(H5T_COMPOUND, sizeof(ResultsRow));
    NN_CHECK(r >= 0, "HDF5: summary type");
    insert(r, "run_id", HOFFSET(ResultsRow, run_id), s_id);
    insert(r, "sweep", HOFFSET(ResultsRow, sweep), s_sweep);
    insert(r, "status", HOFFSET(ResultsRow, status), s_status);
    insert(r, "epochs", HOFFSET(ResultsRow, epochs), H5T_NATIVE_INT32);
    insert(r, "epochs_done", HOFFSET(ResultsRow, epochs_done), H5T_NATIVE_INT32);
    insert(r, "best_epoch", HOFFSET(ResultsRow, best_epoch), H5T_NATIVE_INT32);
    insert(r, "best_val_accuracy", HOFFSET(ResultsRow, best_val_accuracy), H5T_NATIVE_DOUBLE);
    insert(r, "best_test_accuracy", HOFFSET(ResultsRow, best_test_accuracy), H5T_NATIVE_DOUBLE);
    insert(r, "wall_seconds", HOFFSET(ResultsRow, wall_seconds), H5T_NATIVE_DOUBLE);
    insert(r, "n_params", HOFFSET(ResultsRow, n_params), H5T_NATIVE_INT64);
    insert(r, "has_weights", HOFFSET(ResultsRow, has_weights), t.bool_t);
    insert(r, "host", HOFFSET(ResultsRow, host), s_host);
    insert(r, "worker_rank", HOFFSET(ResultsRow, worker_rank), H5T_NATIVE_INT32);
    insert(r, "device", HOFFSET(ResultsRow, device), s_dev);
    insert(r, "message", HOFFSET(ResultsRow, message), s_msg);
    t.row_mem = r;
    t.row_file = H5Tcopy(r);
    NN_CHECK(t.row_file >= 0 && H5Tpack(t.row_file) >= 0, "HDF5: summary file type");
    H5Tclose(s_id), H5Tclose(s_sweep), H5Tclose(s_status);
    H5Tclose(s_host), H5Tclose(s_dev), H5Tclose(s_msg);

    hid_t m = H5Tcreate(H5T_COMPOUND, sizeof(EpochMetrics));
    NN_CHECK(m >= 0, "HDF5: metrics type");
    insert(m, "epoch", HOFFSET(EpochMetrics, epoch), H5T_NATIVE_INT);
#define RS_F64(f) insert(m, #f, HOFFSET(EpochMetrics, f), H5T_NATIVE_DOUBLE)
    RS_F64(train_loss);
    RS_F64(train_accuracy);
    RS_F64(val_loss);
    RS_F64(val_accuracy);
    RS_F64(test_loss);
    RS_F64(test_accuracy);
    RS_F64(top_accuracy);
    RS_F64(learning_rate);
    RS_F64(seconds);
#undef RS_F64
    t.metrics_mem = m;
    t.metrics_file = H5Tcopy(m);
    NN_CHECK(t.metrics_file >= 0 && H5Tpack(t.metrics_file) >= 0, "HDF5: metrics file type");
    t.dxpl = H5Pcreate(H5P_DATASET_XFER);
    NN_CHECK(t.dxpl >= 0 && H5Pset_buffer(t.dxpl, 64 * 1024, NULL, NULL) >= 0,
             "HDF5: transfer properties");
    built = 1;
    return &t;
}

/* ---- attributes ------------------------------------------------------------ */

static int attr_write(hid_t obj, const char *name, hid_t type, hid_t space, const void *buf)
{
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) {
        rs_note();
        return -1;
    }
    int rc = 0;
    if (H5Awrite(a, type, buf) < 0) {
        rs_note();
        rc = -1;
    }
    if (H5Aclose(a) < 0) {
        rs_note();
        rc = -1;
    }
    return rc;
}

static int attr_scalar(hid_t obj, const char *name, hid_t type, const void *buf)
{
    hid_t s = H5Screate(H5S_SCALAR);
    if (s < 0) return -1;
    int rc = attr_write(obj, name, type, s, buf);
    H5Sclose(s);
    return rc;
}

static int attr_array(hid_t obj, const char *name, hid_t type, const void *buf, hsize_t n)
{
    hid_t s = H5Screate_simple(1, &n, NULL);
    if (s < 0) return -1;
    int rc = attr_write(obj, name, type, s, buf);
    H5Sclose(s);
    return rc;
}

int rs_attr_str(hid_t obj, const char *name, const char *value)
{
    const char *v = value ? value : "";
    return attr_scalar(obj, name, rs_types()->vstr, &v);
}
int rs_attr_i64(hid_t obj, const char *name, int64_t v)
{
    return attr_scalar(obj, name, H5T_NATIVE_INT64, &v);
}
int rs_attr_i32(hid_t obj, const char *name, int32_t v)
{
    return attr_scalar(obj, name, H5T_NATIVE_INT32, &v);
}
int rs_attr_f64(hid_t obj, const char *name, double v)
{
    return attr_scalar(obj, name, H5T_NATIVE_DOUBLE, &v);
}
int rs_attr_bool(hid_t obj, const char *name, int v)
{
    int8_t b = v ? 1 : 0;
    return attr_scalar(obj, name, rs_types()->bool_t, &b);
}
int rs_attr_i64_array(hid_t obj, const char *name, const int64_t *v, hsize_t n)
{
    int64_t dummy = 0;
    return attr_array(obj, name, H5T_NATIVE_INT64, n ? (const void *)v : &dummy, n);
}
int rs_attr_f64_array(hid_t obj, const char *name, const double *v, hsize_t n)
{
    return attr_array(obj, name, H5T_NATIVE_DOUBLE, v, n);
}

char *rs_read_str_attr(hid_t obj, const char *name)
{
    char *out = NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ft = a >= 0 ? H5Aget_type(a) : -1;
    hid_t sp = a >= 0 ? H5Aget_space(a) : -1;
    if (ft < 0 || sp < 0 || H5Tget_class(ft) != H5T_STRING || H5Sget_simple_extent_npoints(sp) != 1)
        goto done;
    if (H5Tis_variable_str(ft) > 0) {
        char *v = NULL;
        if (H5Aread(a, rs_types()->vstr, &v) >= 0 && v) {
            out = nn_strdup(v);
            H5free_memory(v);
        }
    } else {
        size_t n = H5Tget_size(ft);
        hid_t mt = H5Tcopy(ft);
        char *buf = nn_calloc(n + 1, 1);
        if (mt >= 0 && H5Tset_cset(mt, H5Tget_cset(ft)) >= 0 && H5Aread(a, mt, buf) >= 0)
            out = buf;
        else
            free(buf);
        if (mt >= 0) H5Tclose(mt);
    }
done:
    if (sp >= 0) H5Sclose(sp);
    if (ft >= 0) H5Tclose(ft);
    if (a >= 0) H5Aclose(a);
    return out;
}

int rs_read_i64_attr(hid_t obj, const char *name, int64_t *v)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    int rc = ft >= 0 && sp >= 0 && H5Tget_class(ft) == H5T_INTEGER &&
                     H5Sget_simple_extent_npoints(sp) == 1 && H5Aread(a, H5T_NATIVE_INT64, v) >= 0
                 ? 0
                 : -1;
    if (sp >= 0) H5Sclose(sp);
    if (ft >= 0) H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

/* ---- schema ----------------------------------------------------------------- */

NnStatus rs_check_schema(ResultsFile *rf, NnError *err)
{
    char *format = H5Aexists(rf->file, "format") > 0 ? rs_read_str_attr(rf->file, "format") : NULL;
    H5Eclear2(H5E_DEFAULT);
    int ours = format && strcmp(format, RESULTS_FORMAT) == 0;
    free(format);
    if (!ours)
        return nn_error_set(err, NN_ERR_INPUT,
                            "%s: not an nnsweep results file (no root attribute format=\"%s\")",
                            rf->path, RESULTS_FORMAT);
    int64_t version = -1;
    if (rs_read_i64_attr(rf->file, "schema_version", &version) < 0)
        return nn_error_set(err, NN_ERR_INPUT, "%s: nnsweep results file without schema_version",
                            rf->path);
    if (version != RESULTS_SCHEMA_VERSION)
        return nn_error_set(err, NN_ERR_INPUT,
                            "%s: results schema version %lld; this nnsweep reads version %d",
                            rf->path, (long long)version, RESULTS_SCHEMA_VERSION);
    const char *need[] = {"summary", "sweeps", "runs"};
    for (int i = 0; i < 3; i++)
        if (H5Lexists(rf->file, need[i], H5P_DEFAULT) <= 0)
            return nn_error_set(err, NN_ERR_IO, "%s: damaged results file: /%s is missing",
                                rf->path, need[i]);
    rf->summary = H5Dopen2(rf->file, "summary", H5P_DEFAULT);
    if (rf->summary < 0) return rs_h5err(err, rf->path, "open /summary");
    hid_t ft = H5Dget_type(rf->summary);
    int nm = ft >= 0 ? H5Tget_nmembers(ft) : -1;
    if (ft >= 0) H5Tclose(ft);
    if (nm != H5Tget_nmembers(rs_types()->row_mem))
        return nn_error_set(err, NN_ERR_IO, "%s: damaged results file: /summary has %d fields, "
                                            "schema 1 has %d",
                            rf->path, nm, H5Tget_nmembers(rs_types()->row_mem));
    return NN_OK;
}

NnStatus rs_read_rows(ResultsFile *rf, ResultsRow **rows, size_t *n, NnError *err)
{
    *rows = NULL;
    *n = 0;
    if (rf->swmr && !rf->writer && H5Drefresh(rf->summary) < 0)
        return rs_h5err(err, rf->path, "refresh /summary");
    hid_t fs = H5Dget_space(rf->summary);
    hsize_t dims = 0;
    if (fs < 0 || H5Sget_simple_extent_ndims(fs) != 1 ||
        H5Sget_simple_extent_dims(fs, &dims, NULL) < 0) {
        if (fs >= 0) H5Sclose(fs);
        return rs_h5err(err, rf->path, "read the shape of /summary");
    }
    H5Sclose(fs);
    if (dims == 0) return NN_OK;
    ResultsRow *r = nn_calloc(dims, sizeof *r);
    if (H5Dread(rf->summary, rs_types()->row_mem, H5S_ALL, H5S_ALL, rs_types()->dxpl, r) < 0) {
        free(r);
        return rs_h5err(err, rf->path, "read /summary");
    }
    for (hsize_t i = 0; i < dims; i++) { /* the file might lack a NUL */
        r[i].run_id[RESULTS_RUN_ID_LEN - 1] = r[i].sweep[RESULTS_SWEEP_LEN - 1] = 0;
        r[i].status[RESULTS_STATUS_LEN - 1] = r[i].host[RESULTS_HOST_LEN - 1] = 0;
        r[i].device[RESULTS_DEVICE_LEN - 1] = r[i].message[RESULTS_MESSAGE_LEN - 1] = 0;
    }
    *rows = r;
    *n = dims;
    return NN_OK;
}

void rs_row_reset(ResultsRow *row)
{
    rs_copy_str(row->status, sizeof row->status, run_status_name(RUN_PENDING));
    row->epochs_done = 0;
    row->best_epoch = -1;
    row->best_val_accuracy = NAN;
    row->best_test_accuracy = NAN;
    row->wall_seconds = 0;
    row->has_weights = 0;
    memset(row->host, 0, sizeof row->host);
    row->worker_rank = -1;
    memset(row->device, 0, sizeof row->device);
    memset(row->message, 0, sizeof row->message);
}

void rs_handle_free(ResultsFile *rf)
{
    if (!rf) return;
    for (size_t i = 0; i < rf->n_rows; i++)
        if (rf->slots[i].metrics >= 0) H5Dclose(rf->slots[i].metrics);
    if (rf->summary >= 0) H5Dclose(rf->summary);
    if (rf->file >= 0) H5Fclose(rf->file);
    free(rf->rows);
    free(rf->slots);
    free(rf->path);
    free(rf->real);
    free(rf->partial);
    free(rf->lock_path);
    free(rf);
}
