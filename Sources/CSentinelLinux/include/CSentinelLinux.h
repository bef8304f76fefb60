#ifndef CSENTINEL_LINUX_H
#define CSENTINEL_LINUX_H
#include <sys/types.h>

/// copy_file_range(2) (a _GNU_SOURCE declaration Swift's Glibc module does not export). Returns the number of
/// bytes copied, 0 at the end of the input, or -1 with errno set (ENOSYS where the kernel or libc lacks it).
long CSentinelLinux_copy_file_range(int fd_in, long long *off_in, int fd_out, long long *off_out, unsigned long len);

/// renameat2(2) with RENAME_NOREPLACE (relative to the current directory): renames `from` to `to` only if `to`
/// does not exist, atomically. Returns 0, or -1 with errno set: EEXIST when `to` exists, EINVAL where the file
/// system does not support the flag, ENOSYS where the kernel lacks the call.
int CSentinelLinux_rename_noreplace(const char *from, const char *to);

/// renameat2(2) with RENAME_EXCHANGE: swaps `a` and `b` atomically (both must exist). Returns 0, or -1 with
/// errno set (EINVAL / ENOSYS where unsupported, ENOENT when one is missing).
int CSentinelLinux_rename_exchange(const char *a, const char *b);

#endif
