/*
 * password.c - argon2id password hashes through libargon2 (see password.h).
 */
#include "retraind/password.h"

#include <argon2.h>
#include <openssl/crypto.h>
#include <string.h>
#include <sys/random.h>

#include "retraind/error.h"

#define T_COST 3
#define M_COST_KIB 65536
#define PARALLELISM 1
#define SALT_BYTES 16
#define HASH_BYTES 32

int rt_password_hash(const char *password, size_t len, char *out, size_t size)
{
    if (len == 0)
        return RT_EINVAL;
    size_t need =
        argon2_encodedlen(T_COST, M_COST_KIB, PARALLELISM, SALT_BYTES, HASH_BYTES, Argon2_id);
    if (need > size)
        return RT_ETOOBIG;
    unsigned char salt[SALT_BYTES];
    if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt))
        return RT_EIO;
    int rc = argon2id_hash_encoded(T_COST, M_COST_KIB, PARALLELISM, password, len, salt,
                                   sizeof(salt), HASH_BYTES, out, size);
    OPENSSL_cleanse(salt, sizeof(salt));
    return rc == ARGON2_OK ? 0 : RT_EINVAL;
}

bool rt_password_verify(const char *encoded, const char *password, size_t len)
{
    argon2_type type;
    if (strncmp(encoded, "$argon2id$", 10) == 0)
        type = Argon2_id;
    else if (strncmp(encoded, "$argon2i$", 9) == 0)
        type = Argon2_i;
    else if (strncmp(encoded, "$argon2d$", 9) == 0)
        type = Argon2_d;
    else
        return false;
    return argon2_verify(encoded, password, len, type) == ARGON2_OK;
}
