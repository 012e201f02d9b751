/*
 * fsutil.h - small file-system helpers shared by the modules (blocking; call them at start-up or
 * from thread-pool work, never from the loop in steady state).
 */
#ifndef RETRAIND_FSUTIL_H
#define RETRAIND_FSUTIL_H

#include <sys/types.h>

#include "retraind/error.h"

/*
 * Creates path and its missing parents (mkdir -p). Missing parents get 0755 (less the umask),
 * the last folder gets mode. An existing folder is left as it is.
 * Returns: 0, -ENAMETOOLONG, or the -errno of the folder that could not be made.
 */
int rt_mkdir_p(const char *path, mode_t mode);

/*
 * Checks that the process can create, write, sync and remove a file in folder dir, by doing it
 * (permission bits say nothing for root, read-only mounts or full disks). what names the folder
 * in the message ("the journal folder").
 * Returns: 0, or -errno with err saying which folder, which user and why.
 */
int rt_check_writable(const char *dir, const char *what, struct rt_error *err);

/* Writes the name of the effective user ("root", "retraind" or "uid 61234") into out. */
void rt_user_name(char *out, size_t size);

#endif
