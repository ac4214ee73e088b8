/* h5util.c - error messages, name checks, attribute helpers, the hash
 * index and the schema check shared by the writer and the readers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "results/results_internal.h"

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

int rs_valid_log_key(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= RESULTS_LOG_KEY_LEN || strcmp(s, "step") == 0) return 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return 0;
        int len = c < 0x80                ? 1
                  : (c & 0xE0) == 0xC0 ? 2
                  : (c & 0xF0) == 0xE0 ? 3
                  : (c & 0xF8) == 0xF0 ? 4
                                       : 0;
        if (len == 0 || (len == 2 && c < 0xC2) || i + (size_t)len > n) return 0;
        for (int k = 1; k < len; k++)
            if (((unsigned char)s[i + (size_t)k] & 0xC0) != 0x80) return 0;
        i += (size_t)len;
    }
    return 1;
}

/* ---- hash index ------------------------------------------------------------- */

uint64_t rs_hash(const void *key, size_t n)
{
    uint64_t h = nn_hash64(key, n, 0x9e3779b97f4a7c15ull);
    return h ? h : 1; /* 0 marks an empty slot */
}

int32_t rs_index_find(const RsIndex *ix, uint64_t h, RsIndexEq eq, const void *ctx,
                      const void *key)
{
    if (!ix->cap) return -1;
    for (size_t i = (size_t)h & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
        if (!ix->hash[i]) return -1;
        if (ix->hash[i] == h && eq(ctx, ix->value[i], key)) return ix->value[i];
    }
}

static void index_put(RsIndex *ix, uint64_t h, int32_t v)
{
    size_t i = (size_t)h & (ix->cap - 1);
    while (ix->hash[i]) i = (i + 1) & (ix->cap - 1);
    ix->hash[i] = h;
    ix->value[i] = v;
}

void rs_index_add(RsIndex *ix, uint64_t h, int32_t v)
{
    if (2 * (ix->n + 1) > ix->cap) { /* at most half full */
        RsIndex old = *ix;
        ix->cap = old.cap ? 2 * old.cap : 64;
        ix->hash = nn_calloc(ix->cap, sizeof *ix->hash);
        ix->value = nn_calloc(ix->cap, sizeof *ix->value);
        for (size_t i = 0; i < old.cap; i++)
            if (old.hash[i]) index_put(ix, old.hash[i], old.value[i]);
        free(old.hash);
        free(old.value);
    }
    index_put(ix, h, v);
    ix->n++;
}

void rs_index_free(RsIndex *ix)
{
    free(ix->hash);
    free(ix->value);
    memset(ix, 0, sizeof *ix);
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

int rs_attr_str(hid_t obj, const char *name, const char *value)
{
    /* Fixed length, so the text lies in the object header, under its
     * checksum: a variable-length string lies in a global heap, which has
     * none, and HDF5 1.10 crashes reading one whose heap is damaged. */
    const char *v = value ? value : "";
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0 || H5Tset_size(t, strlen(v) + 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0 ||
        H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        rs_note();
        if (t >= 0) H5Tclose(t);
        return -1;
    }
    int rc = attr_scalar(obj, name, t, v);
    H5Tclose(t);
    return rc;
}
int rs_attr_i32(hid_t obj, const char *name, int32_t v)
{
    return attr_scalar(obj, name, H5T_NATIVE_INT32, &v);
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
        hid_t mt = H5Tcopy(rs_types()->vstr); /* HDF5 converts no string to another cset */
        if (mt >= 0 && H5Tset_cset(mt, H5Tget_cset(ft)) >= 0 && H5Aread(a, mt, &v) >= 0 && v) {
            out = nn_strdup(v);
            H5free_memory(v);
        }
        if (mt >= 0) H5Tclose(mt);
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
    if (version != 1 && version != RESULTS_SCHEMA_VERSION)
        return nn_error_set(err, NN_ERR_INPUT,
                            "%s: results schema version %lld; this nnsweep reads versions 1 to %d",
                            rf->path, (long long)version, RESULTS_SCHEMA_VERSION);
    rf->version = (int)version;
    static const char *const need1[] = {"summary", "sweeps", "runs", NULL};
    static const char *const need2[] = {"summary", "sweeps",   "text",    "tensors",
                                        "metrics", "logs",     "log_keys", "weights", NULL};
    const char *const *need = version == 1 ? need1 : need2;
    for (int i = 0; need[i]; i++)
        if (H5Lexists(rf->file, need[i], H5P_DEFAULT) <= 0) {
            H5Eclear2(H5E_DEFAULT);
            return nn_error_set(err, NN_ERR_IO, "%s: damaged results file: /%s is missing",
                                rf->path, need[i]);
        }
    rf->summary = H5Dopen2(rf->file, "summary", H5P_DEFAULT);
    if (rf->summary < 0) return rs_h5err(err, rf->path, "open /summary");
    hid_t ft = H5Dget_type(rf->summary);
    int nm = ft >= 0 ? H5Tget_nmembers(ft) : -1;
    if (ft >= 0) H5Tclose(ft);
    hid_t want = version == 1 ? rs_types()->row1_mem : rs_types()->row_mem;
    if (nm != H5Tget_nmembers(want))
        return nn_error_set(err, NN_ERR_IO,
                            "%s: damaged results file: /summary has %d fields, schema %d has %d",
                            rf->path, nm, (int)version, H5Tget_nmembers(want));
    return NN_OK;
}
