/* sd_notify.h - the two pieces of systemd's notify protocol the daemon uses (READY, STATUS,
 * STOPPING, WATCHDOG), written here rather than linked from libsystemd: that library pulls in
 * libgcrypt, zstd, lz4, lzma and libcap, about 1 MB of resident pages in an idle daemon that
 * never calls them (docs/daemon.md). */
#ifndef RT_DAEMON_SD_NOTIFY_H
#define RT_DAEMON_SD_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Sends STATE (newline-separated KEY=VALUE lines) to $NOTIFY_SOCKET as one datagram. Returns 1
 * when sent, 0 when not run by a service manager (no NOTIFY_SOCKET), -errno on failure; like
 * sd_notify(3), callers may ignore the result. */
int rt_sd_notify(const char *state);

/* true with *usec set when the service manager expects WATCHDOG=1 pings from this process:
 * $WATCHDOG_USEC is a positive number and $WATCHDOG_PID, when set, is our pid. */
bool rt_sd_watchdog_usec(uint64_t *usec);

#endif
