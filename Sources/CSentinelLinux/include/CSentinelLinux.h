#ifndef CSENTINEL_LINUX_H
#define CSENTINEL_LINUX_H
#include <sys/types.h>

/// copy_file_range(2) (a _GNU_SOURCE declaration Swift's Glibc module does not export). Returns the number of
/// bytes copied, 0 at the end of the input, or -1 with errno set (ENOSYS where the kernel or libc lacks it).
long CSentinelLinux_copy_file_range(int fd_in, long long *off_in, int fd_out, long long *off_out, unsigned long len);

#endif
