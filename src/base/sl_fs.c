/* Durable file helpers: atomic replace, recursive mkdir/remove, directory fsync. */
#include "sl_fs.h"
#include "sl_common.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int sl_fs_sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int sl__write_full(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static unsigned sl__dir_mode = SL_FS_DIR_MODE_DEFAULT;

void sl_fs_set_dir_mode(unsigned mode)
{
    sl__dir_mode = mode & 07777u;
}

unsigned sl_fs_dir_mode(void)
{
    return sl__dir_mode;
}

unsigned sl_fs_file_mode(void)
{
    return sl__dir_mode & 06666u & ~06000u;
}

int sl_fs_tmp_open(const char *path, char *tmp, size_t cap, int mode)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    for (int attempt = 0; attempt < SL_FS_TMP_ATTEMPTS_MAX; attempt++) {
        uint8_t rnd[8];
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
            uint64_t x = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)clock();
            x += (uint64_t)attempt * 0xff51afd7ed558ccdULL;
            memcpy(rnd, &x, sizeof rnd);
        }
        char suffix[sizeof rnd + 1];
        for (size_t i = 0; i < sizeof rnd; i++) {
            suffix[i] = alphabet[rnd[i] % (sizeof alphabet - 1)];
        }
        suffix[sizeof rnd] = '\0';
        if (snprintf(tmp, cap, "%s.%s.tmp", path, suffix) >= (int)cap) {
            return -ENAMETOOLONG;
        }
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0 || errno != EEXIST) {
            return fd >= 0 ? fd : -errno;
        }
    }
    return -EEXIST;
}

/* Temp file, write, (fsync,) rename over path; the directory is the caller's. */
static int sl__write_rename(const char *path, const void *data, size_t len, int mode, bool sync)
{
    char tmp[PATH_MAX];
    int fd = sl_fs_tmp_open(path, tmp, sizeof tmp, mode);
    if (fd < 0) {
        return fd;
    }
    int rc = sl__write_full(fd, data, len);
    if (rc == 0 && sync && fsync(fd) < 0) {
        rc = -errno;
    }
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = -errno;
    }
    if (rc != 0) {
        unlink(tmp);
    }
    return rc;
}

int sl_fs_write_replace(const char *path, const void *data, size_t len)
{
    return sl__write_rename(path, data, len, (int)sl_fs_file_mode(), false);
}

int sl_fs_write_atomic_mode(const char *path, const void *data, size_t len, int mode)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
    } else {
        snprintf(dir, sizeof dir, ".");
    }
    int rc = sl__write_rename(path, data, len, mode, true);
    return rc != 0 ? rc : sl_fs_sync_dir(dir);
}

int sl_fs_write_atomic(const char *path, const void *data, size_t len)
{
    return sl_fs_write_atomic_mode(path, data, len, (int)sl_fs_file_mode());
}

int sl_fs_read_all(const char *path, size_t max_bytes, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out_close;
    }
    if ((size_t)st.st_size > max_bytes) {
        rc = SL_ELIMIT;
        goto out_close;
    }
    char *buf = sl_xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            break;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
out_close:
    close(fd);
    return rc;
}

int sl_fs_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        return -ENAMETOOLONG;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, (mode_t)sl__dir_mode) < 0 && errno != EEXIST) {
                return -errno;
            }
            *p = '/';
        }
    }
    if (mkdir(buf, (mode_t)sl__dir_mode) < 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

static int sl__rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    SL_UNUSED(st);
    SL_UNUSED(flag);
    SL_UNUSED(ftw);
    return remove(path) < 0 ? -1 : 0;
}

int sl_fs_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    if (nftw(path, sl__rm_entry, 32, FTW_DEPTH | FTW_PHYS) < 0) {
        return -errno;
    }
    return 0;
}
