/*
 * cmd_sign.c - `retraind sign`: signs one raw HTTP/1.1 request read from stdin with SigV4 and
 * prints it signed on stdout; with --verbose the canonical request and string to sign go to
 * stderr, which is what one compares against the canonical request AWS sends back with a
 * SignatureDoesNotMatch error.
 *
 *   retraind sign --region R --service S [--time YYYYMMDDTHHMMSSZ] [--access-key K --secret-key S]
 *                 [--session-token T] [--s3] [--no-normalize] [--presign SECONDS] [--no-imds]
 *                 [--verbose] < raw-request
 *
 * Design: credentials come from a list of sources tried in order (cred_sources below): the
 * options, the environment, then the full default chain of aws-wire.md 10.1, as the SDKs use it
 * (credentials.h: environment, web identity, profile, container, IMDS), which runs a libuv loop of
 * its own for the network sources; when it finds nothing its message lists every source it tried
 * and why. --no-imds leaves IMDS out of the chain (a machine that is known not to be EC2 need not
 * wait for it), and the message then says IMDS was skipped. No piece of the
 * secret key reaches stdout or stderr, and the session token is redacted from --verbose output (it
 * still has to appear in the signed request itself). The secret given on the command line is wiped
 * from argv once copied, so it does not linger in /proc/PID/cmdline.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "cli.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/credentials.h"
#include "retraind/error.h"
#include "retraind/httpc.h"
#include "retraind/sigv4.h"

#define MAX_REQUEST (64u << 20)

/* Credentials being assembled; every string is owned and wiped on free. */
struct sign_creds {
    char *access_key;
    char *secret_key;
    char *session_token;
};

static void creds_wipe(struct sign_creds *c)
{
    rt_free_secret_str(c->access_key);
    rt_free_secret_str(c->secret_key);
    rt_free_secret_str(c->session_token);
    memset(c, 0, sizeof(*c));
}

/* What the credential sources may look at. */
struct sign_ctx {
    struct rt_cli_opt *opts;
    const char *region; /* the signing region (also the STS region of web identity) */
    bool no_imds;       /* --no-imds */
};

/* A credential source: returns 0 and fills out, RT_ENOTFOUND when it has nothing, or another
 * code with err set when it has something broken. */
struct cred_source {
    const char *describe; /* for the "no credentials" message */
    int (*get)(const struct sign_ctx *ctx, struct sign_creds *out, struct rt_error *err);
};

static int dup_secret(char **dst, const char *src)
{
    *dst = rt_strdup(src);
    return *dst ? 0 : RT_ENOMEM;
}

static int from_options(const struct sign_ctx *ctx, struct sign_creds *out, struct rt_error *err)
{
    struct rt_cli_opt *opts = ctx->opts;
    struct rt_cli_opt *ak = rt_cli_opt(opts, "access-key"), *sk = rt_cli_opt(opts, "secret-key");
    struct rt_cli_opt *tok = rt_cli_opt(opts, "session-token");
    if (!ak->present && !sk->present)
        return RT_ENOTFOUND;
    if (!ak->present || !sk->present || !*ak->value || !*sk->value)
        return rt_error_set(err, RT_EUSAGE, "--access-key and --secret-key go together");
    if (dup_secret(&out->access_key, ak->value) || dup_secret(&out->secret_key, sk->value) ||
        (tok->present && *tok->value && dup_secret(&out->session_token, tok->value)))
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    /* Keep the secret out of /proc/PID/cmdline from now on. */
    OPENSSL_cleanse((void *)sk->value, strlen(sk->value));
    if (tok->present)
        OPENSSL_cleanse((void *)tok->value, strlen(tok->value));
    return 0;
}

static int
from_environment(const struct sign_ctx *ctx, struct sign_creds *out, struct rt_error *err)
{
    struct rt_cli_opt *opts = ctx->opts;
    const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
    const char *tok = getenv("AWS_SESSION_TOKEN");
    struct rt_cli_opt *opt_tok = rt_cli_opt(opts, "session-token");
    if (!ak || !*ak || !sk || !*sk)
        return RT_ENOTFOUND;
    if (opt_tok->present && *opt_tok->value)
        tok = opt_tok->value;
    if (dup_secret(&out->access_key, ak) || dup_secret(&out->secret_key, sk) ||
        (tok && *tok && dup_secret(&out->session_token, tok)))
        return rt_error_set(err, RT_ENOMEM, "out of memory");
    return 0;
}

/* What the chain's callback hands back to from_chain. */
struct chain_wait {
    int done;
    int status;
    struct rt_error err;
    struct sign_creds *out;
};

static void
on_chain(int status, const struct rt_credentials *c, const struct rt_error *err, void *ud)
{
    struct chain_wait *w = ud;
    w->done = 1;
    w->status = status;
    if (status != 0) {
        w->err = *err;
        return;
    }
    if (dup_secret(&w->out->access_key, c->access_key) ||
        dup_secret(&w->out->secret_key, c->secret_key) ||
        (c->session_token && dup_secret(&w->out->session_token, c->session_token)))
        w->status = rt_error_set(&w->err, RT_ENOMEM, "out of memory");
}

static void on_closed(void *ud)
{
    *(int *)ud = 1;
}

/* The default credential chain (credentials.h) on a loop of its own; the loop is closed again
 * before signing. */
static int from_chain(const struct sign_ctx *ctx, struct sign_creds *out, struct rt_error *err)
{
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        return rt_error_set(err, RT_ENOMEM, "cannot start an event loop");
    struct rt_httpc *http = NULL;
    struct rt_credentials_provider *chain = NULL;
    struct chain_wait w = {.out = out};
    rt_error_clear(&w.err);
    int rc = rt_httpc_new(&loop, NULL, &http, err);
    struct rt_credentials_opts co = {
        .loop = &loop, .httpc = http, .region = ctx->region, .no_imds = ctx->no_imds};
    if (!rc)
        rc = rt_credentials_provider_new_default(&co, &chain, err);
    if (!rc)
        rc = rt_credentials_provider_get(chain, on_chain, &w, err);
    while (!rc && !w.done)
        uv_run(&loop, UV_RUN_ONCE);
    if (!rc && w.status) {
        *err = w.err;
        rc = w.status == RT_ENOTFOUND ? RT_ECREDENTIALS : w.status;
    }
    int closed = 0;
    if (chain) {
        rt_credentials_provider_close(chain, on_closed, &closed);
        while (!closed)
            uv_run(&loop, UV_RUN_ONCE);
    }
    if (http)
        rt_httpc_close(http, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return rc;
}

static const struct cred_source cred_sources[] = {
    {"--access-key/--secret-key", from_options},
    {"environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)", from_environment},
    {"credential chain (environment, web identity, profile, container, IMDS)", from_chain},
};

#define SIGN_USAGE                                                                                 \
    "usage: retraind sign --region R --service S [--time YYYYMMDDTHHMMSSZ]\n"                      \
    "         [--access-key K --secret-key S] [--session-token T] [--s3]\n"                        \
    "         [--no-normalize] [--presign SECONDS] [--no-imds] [--verbose] < raw-request\n"

static int usage_error(const char *msg)
{
    fprintf(stderr, "retraind sign: %s\n" SIGN_USAGE, msg);
    return RT_EXIT_USAGE;
}

static int read_all(FILE *in, struct rt_buf *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0) {
        int rc = rt_buf_append(b, chunk, n);
        if (rc)
            return rc;
    }
    return ferror(in) ? RT_EIO : 0;
}

static bool name_is(struct rt_str n, const char *c)
{
    return n.len == strlen(c) && strncasecmp(n.p, c, n.len) == 0;
}

/* Prints text with every occurrence of secret replaced by a marker (for --verbose). */
static void print_redacted(FILE *f, const char *text, size_t len, struct rt_str secret)
{
    size_t i = 0;
    while (i < len) {
        const char *hit = secret.len ? memmem(text + i, len - i, secret.p, secret.len) : NULL;
        size_t upto = hit ? (size_t)(hit - text) : len;
        fwrite(text + i, 1, upto - i, f);
        if (!hit)
            break;
        fputs("<session token redacted>", f);
        i = upto + secret.len;
    }
}

static int sign_request(struct rt_cli_opt *opts,
                        const struct sign_creds *creds,
                        const char *region,
                        const char *service,
                        const char *amz_date,
                        int64_t now_s)
{
    bool verbose = rt_cli_opt(opts, "verbose")->present;
    struct rt_cli_opt *presign = rt_cli_opt(opts, "presign");
    struct rt_buf in;
    rt_buf_init(&in, MAX_REQUEST);
    int rc = read_all(stdin, &in);
    if (rc) {
        fprintf(stderr, "retraind sign: cannot read the request from stdin: %s\n", rt_strerror(rc));
        rt_buf_cleanup(&in);
        return RT_EXIT_FAIL;
    }
    struct rt_sigv4_raw_request *raw = rt_malloc(sizeof(*raw));
    struct rt_sigv4_result *res = rt_malloc(sizeof(*res));
    struct rt_error err;
    rt_error_clear(&err);
    int exit_code = RT_EXIT_FAIL;
    struct rt_buf cr, sts;
    rt_buf_init(&cr, MAX_REQUEST);
    rt_buf_init(&sts, 4096);
    if (!raw || !res) {
        fprintf(stderr, "retraind sign: out of memory\n");
        goto out;
    }
    if (rt_sigv4_raw_parse(in.data ? in.data : "", in.len, raw, &err) != 0) {
        fprintf(stderr, "retraind sign: the request on stdin is not a raw HTTP request: %s\n",
                err.msg);
        exit_code = RT_EXIT_USAGE;
        goto out;
    }
    /* A request that already says how its payload is hashed (UNSIGNED-PAYLOAD, a streaming
     * marker, a precomputed hash) is signed with that; otherwise the body is hashed. */
    char body_hash[RT_SIGV4_HEX_LEN + 1];
    struct rt_str payload = {NULL, 0};
    for (size_t i = 0; i < raw->n_headers; i++) {
        if (name_is(raw->headers[i].name, "x-amz-content-sha256")) {
            struct rt_str v = raw->headers[i].value;
            while (v.len && (v.p[0] == ' ' || v.p[0] == '\t'))
                v.p++, v.len--;
            while (v.len && (v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t'))
                v.len--;
            payload = v;
        }
    }
    if (!payload.len) {
        rt_sigv4_sha256_hex(raw->body.p, raw->body.len, body_hash);
        payload = rt_str_c(body_hash);
    }
    unsigned flags = 0;
    if (rt_cli_opt(opts, "s3")->present)
        flags |= RT_SIGV4_S3;
    if (rt_cli_opt(opts, "no-normalize")->present)
        flags |= RT_SIGV4_NO_NORMALIZE;
    uint32_t expires = 0;
    if (presign->present) {
        char *end;
        long v = strtol(presign->value, &end, 10);
        if (*presign->value == '\0' || *end != '\0' || v < 1 || v > 604800) {
            exit_code = usage_error("--presign wants seconds from 1 to 604800");
            goto out;
        }
        flags |= RT_SIGV4_PRESIGN;
        expires = (uint32_t)v;
    }
    struct rt_sigv4_request req = {
        .method = raw->method,
        .path = raw->path,
        .query = raw->query,
        .headers = raw->headers,
        .n_headers = raw->n_headers,
        .payload_hash = payload,
    };
    struct rt_sigv4_config cfg = {
        .access_key = rt_str_c(creds->access_key),
        .secret_key = rt_str_c(creds->secret_key),
        .session_token = rt_str_c(creds->session_token),
        .region = rt_str_c(region),
        .service = rt_str_c(service),
        .amz_date = amz_date,
        .time_s = now_s,
        .flags = flags,
        .expires_s = expires,
    };
    if (rt_sigv4_sign(&req, &cfg, res, &err) != 0) {
        fprintf(stderr, "retraind sign: %s\n", err.msg);
        exit_code = err.code == RT_EINVAL ? RT_EXIT_USAGE : RT_EXIT_FAIL;
        goto out;
    }
    if (verbose) {
        if (rt_sigv4_canonical_request(&req, &cfg, &cr, &err) != 0 ||
            rt_sigv4_string_to_sign(&cfg, (struct rt_str){cr.data, cr.len}, &sts, &err) != 0) {
            fprintf(stderr, "retraind sign: %s\n", err.msg);
            goto out;
        }
        fputs("---- canonical request\n", stderr);
        print_redacted(stderr, cr.data, cr.len, cfg.session_token);
        fputs("\n---- string to sign\n", stderr);
        fwrite(sts.data, 1, sts.len, stderr);
        fprintf(stderr, "\n---- signature\n%s\n", res->signature);
    }

    const char *eol = raw->crlf ? "\r\n" : "\n";
    const char *sep = raw->colon_space ? ": " : ":";
    bool has_token = cfg.session_token.len > 0;
    bool adds_content =
        !presign->present && (rt_sigv4_effective_flags(&cfg) & RT_SIGV4_CONTENT_SHA256);
    if (presign->present)
        printf("%.*s %.*s%c%.*s %.*s%s", (int)raw->method.len, raw->method.p, (int)raw->target.len,
               raw->target.p, raw->has_query ? '&' : '?', (int)res->query.len, res->query.p,
               (int)raw->version.len, raw->version.p, eol);
    else
        printf("%.*s %.*s %.*s%s", (int)raw->method.len, raw->method.p, (int)raw->target.len,
               raw->target.p, (int)raw->version.len, raw->version.p, eol);
    for (size_t i = 0; i < raw->n_headers; i++) {
        struct rt_str n = raw->headers[i].name;
        /* Headers the signature replaces are dropped rather than sent twice. */
        if (!presign->present && (name_is(n, "authorization") || name_is(n, "x-amz-date") ||
                                  (has_token && name_is(n, "x-amz-security-token")) ||
                                  (adds_content && name_is(n, "x-amz-content-sha256"))))
            continue;
        printf("%.*s%s", (int)raw->lines[i].len, raw->lines[i].p, eol);
    }
    for (size_t i = 0; i < res->n_add; i++)
        printf("%.*s%s%.*s%s", (int)res->add[i].name.len, res->add[i].name.p, sep,
               (int)res->add[i].value.len, res->add[i].value.p, eol);
    fputs(eol, stdout);
    fwrite(raw->body.p, 1, raw->body.len, stdout);
    exit_code = fflush(stdout) == 0 ? RT_EXIT_OK : RT_EXIT_FAIL;
out:
    if (res)
        rt_free_secret(res, sizeof(*res));
    rt_free(raw);
    rt_buf_cleanup_secret(&cr);
    rt_buf_cleanup(&sts);
    rt_buf_cleanup_secret(&in);
    return exit_code;
}

int rt_cmd_sign(int argc, char **argv)
{
    struct rt_cli_opt opts[] = {
        {"region", 0, true, false, NULL},     {"service", 0, true, false, NULL},
        {"time", 0, true, false, NULL},       {"access-key", 0, true, false, NULL},
        {"secret-key", 0, true, false, NULL}, {"session-token", 0, true, false, NULL},
        {"s3", 0, false, false, NULL},        {"no-normalize", 0, false, false, NULL},
        {"presign", 0, true, false, NULL},    {"verbose", 'v', false, false, NULL},
        {"no-imds", 0, false, false, NULL},   {"help", 'h', false, false, NULL},
        {NULL, 0, false, false, NULL},
    };
    struct rt_cli_args args;
    if (rt_cli_parse("sign", argc, argv, 2, opts, &args) != 0)
        return RT_EXIT_USAGE;
    if (rt_cli_opt(opts, "help")->present) {
        printf(
            SIGN_USAGE
            "Reads one raw HTTP/1.1 request on stdin and prints it signed with SigV4.\n"
            "\n"
            "Credentials: --access-key/--secret-key when given, else the default chain of the\n"
            "AWS SDKs; the first source that answers wins and later ones are never asked:\n"
            "  1. environment   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY [, AWS_SESSION_TOKEN]\n"
            "  2. web identity  AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, exchanged at STS\n"
            "  3. profile       AWS_PROFILE (else default) in ~/.aws/credentials, ~/.aws/config\n"
            "  4. container     AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI (ECS, EKS)\n"
            "  5. IMDS          EC2 instance metadata (IMDSv2), a few seconds at most; skipped\n"
            "                   with --no-imds or AWS_EC2_METADATA_DISABLED=true\n"
            "A source that is set up but broken (a named profile that does not exist, a\n"
            "container endpoint that fails) is an error, not a reason to try the next one.\n"
            "Region: --region, AWS_REGION, AWS_DEFAULT_REGION, then the profile's region.\n"
            "No piece of a secret is printed; --verbose redacts the session token.\n");
        return RT_EXIT_OK;
    }
    if (args.n_words > 0)
        return usage_error("unexpected argument (the request comes on stdin)");
    const char *region = rt_cli_opt(opts, "region")->value;
    if (!region || !*region)
        region = getenv("AWS_REGION");
    if (!region || !*region)
        region = getenv("AWS_DEFAULT_REGION");
    char profile_region[64] = "";
    if (!region || !*region) {
        /* Last: the region of the profile the credential chain would use (AWS_PROFILE or
         * default), as the SDKs do. A missing or region-less profile is not an error here. */
        struct rt_error perr;
        rt_error_clear(&perr);
        if (rt_credentials_profile_region(NULL, profile_region, sizeof(profile_region), &perr) ==
                0 &&
            profile_region[0])
            region = profile_region;
    }
    if (!region || !*region)
        return usage_error("no region: give --region, set AWS_REGION or a region in the profile");
    const char *service = rt_cli_opt(opts, "service")->value;
    if (!service || !*service)
        return usage_error("--service is required (the signing name, e.g. s3)");
    const char *amz_date = rt_cli_opt(opts, "time")->value;
    int64_t now_s = rt_now_ms() / 1000, parsed;
    if (amz_date && rt_sigv4_parse_date(amz_date, &parsed) != 0)
        return usage_error("--time wants YYYYMMDDTHHMMSSZ (UTC), e.g. 20150830T123600Z");

    struct sign_creds creds = {0};
    struct rt_error err;
    rt_error_clear(&err);
    const struct sign_ctx ctx = {
        .opts = opts,
        .region = region,
        .no_imds = rt_cli_opt(opts, "no-imds")->present,
    };
    /* Said wherever "no credentials" is reported, so nobody wonders why IMDS was not asked. */
    const char *imds_note = ctx.no_imds ? "; IMDS was skipped (--no-imds)" : "";
    int rc = RT_ENOTFOUND;
    size_t n_sources = sizeof(cred_sources) / sizeof(cred_sources[0]);
    for (size_t i = 0; i < n_sources && rc == RT_ENOTFOUND; i++) {
        rc = cred_sources[i].get(&ctx, &creds, &err);
        if (rc != 0)
            creds_wipe(&creds);
    }
    if (rc == RT_EUSAGE)
        return usage_error(err.msg);
    if (rc == RT_ENOTFOUND) {
        fprintf(stderr, "retraind sign: no credentials found; tried:");
        for (size_t i = 0; i < n_sources; i++)
            fprintf(stderr, "%s %s", i ? "," : "", cred_sources[i].describe);
        fprintf(stderr, "%s\n", imds_note);
        return RT_EXIT_FAIL;
    }
    if (rc == RT_ECREDENTIALS) { /* only reached when no keys were given as options */
        fprintf(stderr, "retraind sign: %s%s; --access-key/--secret-key were not given\n", err.msg,
                imds_note);
        return RT_EXIT_FAIL;
    }
    if (rc != 0) {
        fprintf(stderr, "retraind sign: %s\n", err.msg);
        return RT_EXIT_FAIL;
    }
    int code = sign_request(opts, &creds, region, service, amz_date, now_s);
    creds_wipe(&creds);
    return code;
}
