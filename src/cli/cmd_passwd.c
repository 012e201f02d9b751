/*
 * cmd_passwd.c - `retraind passwd`: reads a password and prints its argon2id hash for
 * review.users[].password_hash ($argon2id$v=19$m=65536,t=3,p=1$SALT$HASH).
 *
 * At a terminal it asks twice without echo (termios) and refuses a mismatch; otherwise it reads
 * one line from stdin (a script: printf '%s\n' "$PW" | retraind passwd). The password is never
 * printed, and its buffers are wiped before exit.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "retraind/password.h"

#define PW_MAX 1024

/* Reads one line from f into buf (without the newline). Returns: its length, or -1 at EOF with
 * nothing read or when the line does not fit. */
static long read_line(FILE *f, char *buf, size_t size)
{
    size_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF && c != '\n') {
        if (n + 1 >= size)
            return -1;
        buf[n++] = (char)c;
    }
    buf[n] = '\0';
    if (c == EOF && n == 0)
        return -1;
    if (n && buf[n - 1] == '\r')
        buf[--n] = '\0';
    return (long)n;
}

/* Asks prompt on the terminal and reads a line with echo off. Echo goes off before the prompt
 * shows, so an answer typed (or written by a script) right after the prompt is neither echoed
 * nor discarded by the flush. Returns: as read_line. */
static long ask(FILE *tty, const char *prompt, char *buf, size_t size)
{
    struct termios old, quiet;
    int fd = fileno(tty);
    bool restore = tcgetattr(fd, &old) == 0;
    if (restore) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHONL);
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    fprintf(stderr, "%s", prompt);
    fflush(stderr);
    long n = read_line(tty, buf, size);
    if (restore)
        tcsetattr(fd, TCSANOW, &old);
    fprintf(stderr, "\n");
    return n;
}

int rt_cmd_passwd(int argc, char **argv)
{
    struct rt_cli_opt opts[] = {RT_OPT_END};
    struct rt_cli_args args;
    int rc = rt_cli_parse("passwd", argc, argv, 2, opts, &args);
    if (rc)
        return rc;
    if (args.n_words) {
        fprintf(stderr,
                "usage: retraind passwd  (reads the password from the terminal or stdin)\n");
        return RT_EXIT_USAGE;
    }
    char pw[PW_MAX], again[PW_MAX];
    long n;
    int code = RT_EXIT_OK;
    if (isatty(STDIN_FILENO)) {
        n = ask(stdin, "Password: ", pw, sizeof(pw));
        long m = n < 0 ? -1 : ask(stdin, "Again: ", again, sizeof(again));
        if (n >= 0 && (m != n || strcmp(pw, again) != 0)) {
            fprintf(stderr, "retraind passwd: the two passwords differ; nothing printed\n");
            code = RT_EXIT_USAGE;
        }
    } else {
        n = read_line(stdin, pw, sizeof(pw));
    }
    if (code == RT_EXIT_OK && n < 0) {
        fprintf(stderr, "retraind passwd: no password read (at most %d bytes, one line)\n",
                PW_MAX - 1);
        code = RT_EXIT_USAGE;
    } else if (code == RT_EXIT_OK && n == 0) {
        fprintf(stderr, "retraind passwd: the password is empty\n");
        code = RT_EXIT_USAGE;
    }
    if (code == RT_EXIT_OK) {
        char hash[RT_PASSWORD_HASH_MAX];
        rc = rt_password_hash(pw, (size_t)n, hash, sizeof(hash));
        if (rc) {
            fprintf(stderr, "retraind passwd: cannot hash the password\n");
            code = RT_EXIT_FAIL;
        } else {
            printf("%s\n", hash);
        }
    }
    OPENSSL_cleanse(pw, sizeof(pw));
    OPENSSL_cleanse(again, sizeof(again));
    return code;
}
