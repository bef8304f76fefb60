#define _GNU_SOURCE
#include "CSentinelLinux.h"
#include <errno.h>
#include <unistd.h>

long CSentinelLinux_copy_file_range(int fd_in, long long *off_in, int fd_out, long long *off_out, unsigned long len) {
#ifdef __linux__
    loff_t in = (loff_t)*off_in, out = (loff_t)*off_out;
    ssize_t r = copy_file_range(fd_in, &in, fd_out, &out, (size_t)len, 0);
    *off_in = (long long)in;
    *off_out = (long long)out;
    return (long)r;
#else
    (void)fd_in; (void)off_in; (void)fd_out; (void)off_out; (void)len;
    errno = ENOSYS;
    return -1;
#endif
}

#ifdef __linux__
#include <fcntl.h>
#include <sys/syscall.h>
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#endif

static int sentinel_renameat2(const char *from, const char *to, unsigned int flags) {
#if defined(__linux__) && defined(SYS_renameat2)
    return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, flags);
#else
    (void)from; (void)to; (void)flags;
    errno = ENOSYS;
    return -1;
#endif
}

int CSentinelLinux_rename_noreplace(const char *from, const char *to) {
#ifdef __linux__
    return sentinel_renameat2(from, to, RENAME_NOREPLACE);
#else
    return sentinel_renameat2(from, to, 0);
#endif
}

int CSentinelLinux_rename_exchange(const char *a, const char *b) {
#ifdef __linux__
    return sentinel_renameat2(a, b, RENAME_EXCHANGE);
#else
    return sentinel_renameat2(a, b, 0);
#endif
}
