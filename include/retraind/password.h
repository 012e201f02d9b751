/*
 * password.h - password hashes of review.users: argon2id through Debian's libargon2, written in
 * the PHC string format ($argon2id$v=19$m=65536,t=3,p=1$SALT$HASH). Both calls are blocking and
 * slow on purpose (about 64 MiB and a tenth of a second): the daemon runs verification on the
 * thread pool, never on the loop. Part of the http module (src/http/password.c).
 */
#ifndef RETRAIND_PASSWORD_H
#define RETRAIND_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

/* Room for an encoded hash with the default costs (97 characters) and some margin. */
#define RT_PASSWORD_HASH_MAX 160

/*
 * Hashes password (len bytes) with argon2id, m=65536 KiB, t=3, p=1 and a 16-byte random salt
 * (getrandom), into out as a NUL-terminated PHC string. Returns: 0, RT_EINVAL for an empty
 * password, RT_ETOOBIG when size is too small, or RT_EIO when no random bytes are available.
 */
int rt_password_hash(const char *password, size_t len, char *out, size_t size);
/*
 * Returns: true when password matches encoded (any argon2id/argon2i/argon2d PHC string; the
 * costs are read from it). A malformed hash never matches.
 */
bool rt_password_verify(const char *encoded, const char *password, size_t len);

#endif
