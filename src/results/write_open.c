/* write_open.c - the writer's session: the lock file, the working copy
 * (<path>.partial: a copy, a new file, or a schema-1 file converted into
 * it), repair of a file whose writer was killed, the writer's memory of the
 * file (rows, log keys, tensor tables), the commit (fsync + rename) and
 * close. See results.h, "Crash guarantees". */
#define _GNU_SOURCE /* copy_file_range */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "results/results_internal.h"

static char *concat(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = nn_malloc(na + nb + 1);
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

/* ---- file system ------------------------------------------------------------ */

/* File systems on which HDF5 SWMR cannot work. SWMR readers rely on POSIX
 * write() ordering - once a write returns, every reader sees it and every
 * write before it - and network file systems do not give it: their clients
 * cache and flush out of order (HDF5 SWMR User's Guide, "POSIX-compliant
 * requirement": not NFS, SMB/Windows shares and so on). statfs(2) f_type
 * values from linux/magic.h and the CIFS/SMB2 clients. */
static const struct {
    uint32_t magic;
    const char *name;
} unsafe_fs[] = {
    {0x6969u, "NFS"},           {0x517Bu, "SMB"},
    {0xFF534D42u, "CIFS"},      {0xFE534D42u, "SMB2"},
    {0x5346414Fu, "AFS"},       {0x6B414653u, "AFS"},
    {0x01021997u, "9p (v9fs)"},
};

/* Refuses a results file in directory dir when dir is on a file system of
 * unsafe_fs, unless NNSWEEP_ALLOW_UNSAFE_FS=1. Checked before anything is
 * created, so a refusal writes nothing. NNSWEEP_TEST_FS_TYPE (hex) stands
 * in for statfs's f_type: for tests only. A failing statfs passes (opening
 * the file then reports the real problem). NN_ERR_INPUT on refusal. */
static NnStatus check_fs(const char *path, const char *dir, NnError *err)
{
    uint32_t type;
    const char *fake = getenv("NNSWEEP_TEST_FS_TYPE");
    struct statfs sfs;
    if (fake && *fake)
        type = (uint32_t)strtoul(fake, NULL, 16);
    else if (statfs(dir, &sfs) == 0)
        type = (uint32_t)sfs.f_type;
    else
        return NN_OK;
    const char *name = NULL;
    for (size_t i = 0; i < sizeof unsafe_fs / sizeof unsafe_fs[0]; i++)
        if (unsafe_fs[i].magic == type) name = unsafe_fs[i].name;
    const char *allow = getenv("NNSWEEP_ALLOW_UNSAFE_FS");
    if (!name || (allow && strcmp(allow, "1") == 0)) return NN_OK;
    return nn_error_set(
        err, NN_ERR_INPUT,
        "%s: %s is on %s, where a results file cannot be written safely: HDF5 SWMR needs "
        "POSIX write ordering, which %s does not give, so a reader (nnsweep inspect, h5py) or a "
        "--resume after a crash could find it corrupt. Nothing was written. Put it on a local "
        "disk or a parallel file system (Lustre, GPFS), e.g. --out "
        "/scratch/$USER/results.h5, and copy it when the sweep is done; or set "
        "NNSWEEP_ALLOW_UNSAFE_FS=1 to write there anyway (then read it only after the sweep "
        "ended)",
        path, dir, name, name);
}

/* ---- lock ------------------------------------------------------------------- */

/* Exclusive flock on <path>.lock. The file is unlinked at close, so after
 * taking the lock we check that the name still refers to the locked inode
 * (another writer may have unlinked it in between) and retry otherwise. */
static NnStatus take_lock(ResultsFile *rf, NnError *err)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        int fd = open(rf->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0)
            return nn_error_set(err, NN_ERR_IO, "%s: cannot create the lock file %s: %s",
                                rf->path, rf->lock_path, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            int e = errno;
            char holder[128] = "";
            ssize_t got = pread(fd, holder, sizeof holder - 1, 0);
            holder[got > 0 ? got : 0] = 0;
            holder[strcspn(holder, "\n")] = 0;
            close(fd);
            if (e == EWOULDBLOCK)
                return nn_error_set(err, NN_ERR_IO,
                                    "%s: another nnsweep process is writing this results file "
                                    "(%s holds %s); wait for it or stop it first",
                                    rf->path, holder[0] ? holder : "a process", rf->lock_path);
            return nn_error_set(err, NN_ERR_IO, "%s: cannot lock %s: %s", rf->path,
                                rf->lock_path, strerror(e));
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(rf->lock_path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            char host[64] = "";
            gethostname(host, sizeof host - 1);
            char line[128];
            int n = snprintf(line, sizeof line, "pid %ld on %s\n", (long)getpid(), host);
            if (ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t)n, 0) < 0) {
                /* the holder's name is only for messages */
            }
            rf->lock_fd = fd;
            return NN_OK;
        }
        close(fd);
    }
    return nn_error_set(err, NN_ERR_IO, "%s: cannot take the lock %s (it keeps being replaced)",
                        rf->path, rf->lock_path);
}

static void drop_lock(ResultsFile *rf)
{
    if (rf->lock_fd < 0) return;
    unlink(rf->lock_path); /* while still holding it: see take_lock */
    close(rf->lock_fd);
    rf->lock_fd = -1;
}

/* ---- files ------------------------------------------------------------------- */

/* Copies src to dst (created with src's mode), then fsyncs dst. Uses
 * copy_file_range (a reflink or server-side copy where possible), falling
 * back to read/write. Returns 0, or -1 with errno set. */
static int copy_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, saved = 0;
    struct stat st;
    if (in < 0 || fstat(in, &st) < 0) goto fail;
    out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 0777);
    if (out < 0) goto fail;
    off_t left = st.st_size;
    int fallback = 0;
    while (left > 0 && !fallback) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
        if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
                      errno == EOPNOTSUPP || errno == ETXTBSY || errno == EPERM)) {
            fallback = 1;
        } else if (n < 0) {
            if (errno != EINTR) goto fail;
        } else if (n == 0) {
            break; /* the file shrank: copy what is there */
        } else {
            left -= n;
        }
    }
    if (fallback) {
        off_t done = st.st_size - left;
        static char buf[1 << 20];
        while (1) {
            ssize_t n = pread(in, buf, sizeof buf, done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) goto fail;
            if (n == 0) break;
            for (ssize_t w = 0; w < n;) {
                ssize_t k = pwrite(out, buf + w, (size_t)(n - w), done + w);
                if (k < 0 && errno == EINTR) continue;
                if (k < 0) goto fail;
                w += k;
            }
            done += n;
        }
    }
    if (fsync(out) < 0) goto fail;
    if (close(out) < 0) {
        out = -1;
        goto fail;
    }
    close(in);
    return 0;
fail:
    saved = errno;
    if (out >= 0) close(out);
    if (in >= 0) close(in);
    errno = saved;
    return -1;
}

NnStatus rs_fsync_path(const char *path, const char *shown, NnError *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        return nn_error_set(err, NN_ERR_IO, "%s: fsync: %s", shown, strerror(e));
    }
    close(fd);
    return NN_OK;
}

/* The copy replaces the file: fsync, rename(2), fsync of the directory. */
static NnStatus commit(ResultsFile *rf, NnError *err)
{
    NnStatus st = rs_fsync_path(rf->partial, rf->path, err);
    if (st != NN_OK) return st;
    if (rename(rf->partial, rf->real) < 0)
        return nn_error_set(err, NN_ERR_IO, "%s: cannot replace it with %s: %s", rf->path,
                            rf->partial, strerror(errno));
    rf->committed = 1;
    char *dir = nn_strdup(rf->real);
    int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd); /* best effort: some file systems refuse fsync on directories */
        close(fd);
    }
    free(dir);
    return NN_OK;
}

/* ---- HDF5 --------------------------------------------------------------------- */

static hid_t writer_fapl(int repair)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    if (H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) < 0 ||
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0)
        goto fail;
    {
        /* A small fixed metadata cache: HDF5 1.10's every flush (H5Fflush
         * and H5Dflush alike) walks the whole cache index
         * (H5C_set_slist_enabled), so with the default adaptive cache a
         * file of 1000 runs cost milliseconds per flushed epoch row. */
        H5AC_cache_config_t mdc = {.version = H5AC__CURR_CACHE_CONFIG_VERSION};
        if (H5Pget_mdc_config(fapl, &mdc) < 0) goto fail;
        mdc.set_initial_size = 1;
        mdc.initial_size = 256 * 1024;
        mdc.max_size = 256 * 1024;
        mdc.min_size = 128 * 1024;
        mdc.incr_mode = H5C_incr__off;
        mdc.flash_incr_mode = H5C_flash_incr__off;
        mdc.decr_mode = H5C_decr__off;
        if (H5Pset_mdc_config(fapl, &mdc) < 0) goto fail;
    }
    if (repair) {
        /* h5clear -s --increment: these private properties of HDF5 1.10.8
         * (H5Fprivate.h) are what h5clear itself sets. */
        hbool_t on = 1;
        if (H5Pset(fapl, "clear_status_flags", &on) < 0 || H5Pset(fapl, "skip_eof_check", &on) < 0 ||
            H5Pset(fapl, "null_fsm_addr", &on) < 0)
            goto fail;
    }
    return fapl;
fail:
    rs_note();
    H5Pclose(fapl);
    return -1;
}

NnStatus rs_create_file(ResultsFile *rf, NnError *err)
{
    hid_t fapl = writer_fapl(0), g = -1;
    if (fapl < 0) return rs_h5err(err, rf->path, "file access properties");
    rf->file = H5Fcreate(rf->partial, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (rf->file < 0) rs_note();
    H5Pclose(fapl);
    if (rf->file < 0) return rs_h5err(err, rf->path, "create %s", rf->partial);
    rf->version = RESULTS_SCHEMA_VERSION;
    if (rs_attr_str(rf->file, "format", RESULTS_FORMAT) < 0 ||
        rs_attr_i32(rf->file, "schema_version", RESULTS_SCHEMA_VERSION) < 0 ||
        rs_attr_str(rf->file, "nnsweep_version", NNSWEEP_VERSION) < 0 ||
        rs_attr_str(rf->file, "dataset", RESULTS_DATASET) < 0)
        return rs_h5err(err, rf->path, "write the root attributes");
    g = H5Gcreate2(rf->file, "sweeps", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0 || H5Gclose(g) < 0) return rs_h5err(err, rf->path, "create /sweeps");
    return rs_create_tables(rf, err);
}

/* Opens the copy; when a plain open fails (a writer was killed: the
 * superblock still says "open for write"), repairs it as
 * `h5clear -s --increment` would. */
static NnStatus open_copy(ResultsFile *rf, NnError *err)
{
    hid_t fapl = writer_fapl(0);
    if (fapl < 0) return rs_h5err(err, rf->path, "file access properties");
    rf->file = H5Fopen(rf->partial, H5F_ACC_RDWR, fapl);
    if (rf->file < 0) rs_note();
    H5Pclose(fapl);
    if (rf->file >= 0) return NN_OK;

    NnError first;
    rs_h5err(&first, rf->path, "open");
    htri_t is_h5 = H5Fis_hdf5(rf->partial);
    H5Eclear2(H5E_DEFAULT);
    if (is_h5 <= 0)
        return nn_error_set(err, NN_ERR_INPUT, "%s: not an nnsweep results file (not HDF5)",
                            rf->path);
    fapl = writer_fapl(1);
    if (fapl < 0) return rs_h5err(err, rf->path, "file access properties for repair");
    rf->file = H5Fopen(rf->partial, H5F_ACC_RDWR, fapl);
    if (rf->file < 0) rs_note();
    H5Pclose(fapl);
    if (rf->file < 0) {
        char detail[400];
        rs_h5detail(detail, sizeof detail);
        return nn_error_set(err, NN_ERR_IO,
                            "%s; repairing it as `h5clear -s --increment` would failed too: %s",
                            first.msg, detail[0] ? detail : "(no detail)");
    }
    if (H5Fincrement_filesize(rf->file, RS_REPAIR_INCREMENT) < 0)
        return rs_h5err(err, rf->path, "repair: raise the end of allocation");
    rf->repaired = 1;
    return NN_OK;
}

NnStatus rs_load_writer(ResultsFile *rf, NnError *err)
{
    RsRow *rows;
    size_t n;
    NnStatus st = rs_read_rows(rf, &rows, &n, err);
    if (st == NN_OK) st = rs_set_rows(rf, rows, n, err);
    if (st != NN_OK) return st;
    rf->on_disk = rf->n_rows;
    for (size_t i = 0; i < rf->n_rows; i++) rf->rows[i].n_epochs = -1; /* counted when needed */

    /* A writer killed between appending a run's rows and updating its
     * summary row left rows past every run's range. Readers skip them, but
     * the run's next append would stretch its range over them (the same
     * steps twice): they become run -1. */
    int64_t m_end = 0, l_end = 0;
    for (size_t i = 0; i < rf->n_rows; i++) {
        const RsLoc *l = &rf->rows[i].loc;
        if (l->metrics_end > l->metrics_first && l->metrics_end > m_end) m_end = l->metrics_end;
        if (l->logs_end > l->logs_first && l->logs_end > l_end) l_end = l->logs_end;
    }
    st = rs_table_orphan(rf, RS_METRICS, (hsize_t)m_end, err);
    if (st == NN_OK) st = rs_table_orphan(rf, RS_LOGS, (hsize_t)l_end, err);
    if (st != NN_OK) return st;

    hsize_t n_keys = rf->t[RS_KEYS].n;
    char(*keys)[RESULTS_LOG_KEY_LEN] = nn_calloc(n_keys + 1, RESULTS_LOG_KEY_LEN);
    st = rs_table_read(rf, RS_KEYS, 0, n_keys, -1, keys, err);
    if (st == NN_OK) rs_load_keys(rf, keys, n_keys);
    free(keys);
    if (st != NN_OK) return st;

    /* every tensor table, normalized (compared as bytes), then the
     * distinct ones the runs use */
    hsize_t n_tens = rf->t[RS_TENSORS].n;
    RsTensorRow *t = nn_calloc(n_tens + 1, sizeof *t);
    st = rs_table_read(rf, RS_TENSORS, 0, n_tens, -1, t, err);
    if (st != NN_OK) {
        free(t);
        return st;
    }
    rf->tens = nn_calloc(n_tens + 1, sizeof *rf->tens);
    rf->tab_len = nn_calloc(n_tens + 1, sizeof *rf->tab_len);
    rf->cap_tens = n_tens + 1;
    for (hsize_t k = 0; k < n_tens; k++) {
        RsTensorRow *z = &rf->tens[k];
        memcpy(z->name, t[k].name, sizeof z->name);
        z->name[sizeof z->name - 1] = 0;
        z->ndim = t[k].ndim;
        for (int d = 0; d < 4; d++) z->shape[d] = d < t[k].ndim ? t[k].shape[d] : 0;
        z->offset = t[k].offset;
        z->n = t[k].n;
        z->is_buffer = t[k].is_buffer != 0;
    }
    free(t);
    rf->n_tens = n_tens;
    for (size_t i = 0; i < rf->n_rows; i++)
        rs_note_table(rf, rf->rows[i].loc.tensors_first, rf->rows[i].loc.n_tensors);
    return NN_OK;
}

/* The file's real name (symbolic links resolved, directory made absolute),
 * so that every spelling of a path shares one lock and the rename replaces
 * the file itself, not a link to it. NULL with errno set on failure. */
static char *real_name(const char *path)
{
    char *p = realpath(path, NULL);
    if (p) return p;
    if (errno != ENOENT) return NULL;
    char *d = nn_strdup(path), *b = nn_strdup(path);
    char *dir = realpath(dirname(d), NULL);
    char *out = NULL;
    if (dir) {
        const char *base = basename(b);
        out = nn_malloc(strlen(dir) + strlen(base) + 2);
        sprintf(out, "%s/%s", dir, base);
    }
    free(dir), free(d), free(b);
    return out;
}

NnStatus results_open_write(const char *path, int create_if_missing, ResultsFile **out,
                            NnError *err)
{
    *out = NULL;
    rs_quiet();
    char *real = real_name(path);
    if (!real)
        return nn_error_set(err, NN_ERR_IO, "%s: %s", path, strerror(errno));
    ResultsFile *rf = nn_calloc(1, sizeof *rf);
    rf->file = rf->summary = H5I_INVALID_HID;
    for (int t = 0; t < RS_N_TABLES; t++) rf->t[t].ds = H5I_INVALID_HID;
    rf->lock_fd = -1;
    rf->writer = 1;
    rf->dirty_from = SIZE_MAX;
    rf->path = nn_strdup(path);
    rf->real = real;
    rf->partial = concat(real, ".partial");
    rf->lock_path = concat(real, ".lock");
    char *dir = nn_strdup(real);
    NnStatus st = check_fs(path, dirname(dir), err);
    free(dir);
    if (st != NN_OK) goto fail;
    st = take_lock(rf, err);
    if (st != NN_OK) goto fail;
    if (unlink(rf->partial) < 0 && errno != ENOENT) { /* left by a crash: we hold the lock */
        st = nn_error_set(err, NN_ERR_IO, "%s: cannot remove the stale %s: %s", path, rf->partial,
                          strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (stat(rf->real, &sb) < 0) {
        if (errno != ENOENT || !create_if_missing) {
            st = nn_error_set(err, NN_ERR_IO, "%s: %s", path, strerror(errno));
            goto fail;
        }
        st = rs_create_file(rf, err);
    } else if (!S_ISREG(sb.st_mode)) {
        st = nn_error_set(err, NN_ERR_INPUT, "%s: not a regular file", path);
    } else if (copy_file(rf->real, rf->partial) < 0) {
        st = nn_error_set(err, NN_ERR_IO, "%s: cannot copy it to %s: %s", path, rf->partial,
                          strerror(errno));
    } else {
        st = open_copy(rf, err);
        if (st == NN_OK) st = rs_check_schema(rf, err);
        if (st == NN_OK && rf->version == 1) {
            /* a new schema-2 file instead of the copy, from the original */
            H5Dclose(rf->summary);
            rf->summary = H5I_INVALID_HID;
            if (H5Fclose(rf->file) < 0) st = rs_h5err(err, path, "close %s", rf->partial);
            rf->file = H5I_INVALID_HID;
            if (st == NN_OK && unlink(rf->partial) < 0)
                st = nn_error_set(err, NN_ERR_IO, "%s: cannot remove %s: %s", path, rf->partial,
                                  strerror(errno));
            if (st == NN_OK) st = rs_convert_v1(rf, err);
        } else if (st == NN_OK) {
            st = rs_open_tables(rf, err);
            if (st == NN_OK) st = rs_load_writer(rf, err);
        }
    }
    if (st != NN_OK) goto fail;
    *out = rf;
    return NN_OK;
fail:
    rs_handle_free_ids(rf);
    H5Eclear2(H5E_DEFAULT);
    if (rf->lock_fd >= 0) unlink(rf->partial);
    drop_lock(rf);
    rs_handle_free(rf);
    return st;
}

int results_was_repaired(const ResultsFile *rf) { return rf->repaired; }
int results_was_converted(const ResultsFile *rf) { return rf->converted; }

/* The structural phase ends: what it collected is written. A failure
 * breaks the session (results_close discards the copy). */
static NnStatus end_structural(ResultsFile *rf, NnError *err)
{
    if (rf->broken) return nn_error_set(err, NN_ERR_IO, "%s", rf->broken_err.msg);
    NnStatus st = rs_sync(rf, err);
    if (st != NN_OK) {
        rf->broken = 1;
        rf->broken_err = *err;
    }
    return st;
}

NnStatus results_start_swmr(ResultsFile *rf, NnError *err)
{
    NN_CHECK(rf && rf->writer && !rf->swmr, "results_start_swmr: not a writer in its structural phase");
    NnStatus sst = end_structural(rf, err);
    if (sst != NN_OK) return sst;
    if (H5Fstart_swmr_write(rf->file) < 0) {
        NnStatus st = rs_h5err(err, rf->path, "start SWMR write");
        rf->broken = 1;
        rf->broken_err = *err;
        return st;
    }
    rf->swmr = 1;
    NnStatus st = commit(rf, err);
    if (st != NN_OK) {
        rf->broken = 1;
        rf->broken_err = *err;
    }
    return st;
}

NnStatus results_close(ResultsFile *rf, NnError *err)
{
    if (!rf) return NN_OK;
    NnStatus st = NN_OK;
    NnError tmp;
    if (!err) err = &tmp;
    if (rf->writer && !rf->swmr && !rf->broken && !rf->discard && rf->file >= 0)
        end_structural(rf, err); /* a failure: broken, discarded below */
    for (int t = 0; t < RS_N_TABLES; t++) {
        if (rf->t[t].ds >= 0 && H5Dclose(rf->t[t].ds) < 0 && st == NN_OK)
            st = rs_h5err(err, rf->path, "close /%s", rs_table_info(t)->name);
        rf->t[t].ds = H5I_INVALID_HID;
    }
    if (rf->summary >= 0 && H5Dclose(rf->summary) < 0 && st == NN_OK)
        st = rs_h5err(err, rf->path, "close /summary");
    rf->summary = H5I_INVALID_HID;
    if (rf->file >= 0 && H5Fclose(rf->file) < 0 && st == NN_OK)
        st = rs_h5err(err, rf->path, "close");
    rf->file = H5I_INVALID_HID;
    if (rf->writer) {
        if (!rf->committed) {
            if (rf->discard && !rf->broken && st == NN_OK) {
                unlink(rf->partial);
            } else if (rf->broken || st != NN_OK) {
                if (rf->broken && st == NN_OK) st = nn_error_set(err, NN_ERR_IO, "%s", rf->broken_err.msg);
                unlink(rf->partial); /* nothing of this session reaches the file */
            } else {
                st = commit(rf, err);
                if (st != NN_OK) unlink(rf->partial);
            }
        } else if (st == NN_OK) {
            st = rs_fsync_path(rf->real, rf->path, err);
        }
        drop_lock(rf);
    }
    rs_handle_free(rf);
    return st;
}

void results_discard(ResultsFile *rf)
{
    if (rf && rf->writer && !rf->swmr) rf->discard = 1;
    results_close(rf, NULL);
}

NnStatus results_repair(const char *path, int *repaired, NnError *err)
{
    ResultsFile *rf;
    NnStatus st = results_open_write(path, 0, &rf, err);
    if (st != NN_OK) return st;
    if (repaired) *repaired = rf->repaired;
    if (!rf->repaired) { /* a sound file is left as it is */
        results_discard(rf);
        return NN_OK;
    }
    return results_close(rf, err);
}
