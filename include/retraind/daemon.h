/*
 * daemon.h - the long-running process: wiring config to drivers, signals, systemd, timers.
 */
#ifndef RETRAIND_DAEMON_H
#define RETRAIND_DAEMON_H

/* File names under data_dir that the CLI and the daemon share. */
#define RT_CONTROL_SOCKET "retraind.sock"
#define RT_LOCK_FILE "retraind.lock"

/*
 * Runs the daemon with the config at config_path until SIGTERM or SIGINT.
 * Returns: the process exit code (0 after a graceful stop, 1 on a runtime failure, 2 when the
 * config is invalid).
 */
int rt_daemon_run(const char *config_path);

/*
 * Tells a running daemon that the journal changed (a parameter, a request) by writing "wake" to
 * its control socket. Returns: 0 if a daemon answered, or a negative error (no daemon running is
 * -ENOENT or -ECONNREFUSED; the change still takes effect when the daemon next starts).
 */
int rt_daemon_poke(const char *data_dir);

#endif
