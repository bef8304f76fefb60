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
