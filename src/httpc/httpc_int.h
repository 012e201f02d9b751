/*
 * httpc_int.h - what httpc.c and mail.c share inside src/httpc (not a public interface).
 */
#ifndef RETRAIND_HTTPC_INT_H
#define RETRAIND_HTTPC_INT_H

#include "curl_api.h"

#include "retraind/httpc.h"

struct rt__hdr {
    char *name;
    char *value;
};

enum rt__req_state { RT__REQ_NEW = 0, RT__REQ_WAIT, RT__REQ_RUNNING, RT__REQ_FINISH };

struct rt_httpc_req {
    struct rt_httpc *h;
    struct rt_httpc_req *prev, *next; /* in h's list of live requests */
    enum rt__req_state state;
    uint64_t due; /* WAIT: uv_now() time of the next attempt */

    char *method;
    char *url;
    struct rt__hdr *hdrs;
    int n_hdrs, cap_hdrs;

    const char *body; /* borrowed or == body_owned */
    size_t body_len;
    char *body_owned;
    rt_httpc_source_fn *src;
    void *src_ud;
    int64_t src_len;
    uint64_t read_off;

    rt_httpc_sink_fn *sink;
    void *sink_ud;
    rt_httpc_stream_fn *stream; /* 2xx bodies only; others go to resp.body */
    void *stream_ud;
    bool status_known; /* resp.status holds this attempt's status (read at the first byte) */
    uint64_t received;

    int64_t connect_ms, total_ms;
    long low_bytes, low_secs;
    size_t max_body;
    int max_attempts; /* 0: the client's */
    rt_httpc_prepare_fn *prepare;
    rt_httpc_classify_fn *classify;
    void *hook_ud;
    rt_httpc_gate_fn *gate; /* client-side rate limiting before each attempt, or NULL */

    rt_httpc_done_fn *done;
    rt_httpc_mail_done_fn *mail_done;
    void *ud;

    CURL *easy;
    struct curl_slist *slist;
    char errbuf[CURL_ERROR_SIZE];
    struct rt_httpc_resp resp;
    int attempt;
    int retries;
    int last_retry_cost;
    bool skew_used;
    int abort_code;       /* set by a curl callback that aborted the transfer */
    CURLcode opt_rc;      /* the first option curl refused (CURLE_OK: none) */
    const char *opt_name; /* its name, static */
    int final_status;
    struct rt_error err;

    /* mail only */
    bool is_mail;
    char *mail_from; /* "<addr>" */
    struct curl_slist *rcpt;
    char *username;
    char *password; /* secret: wiped when freed */
    char *ca_file;
    long use_ssl;
};

/* Allocates a bare request (no method/url checks). Returns: NULL on ENOMEM. */
struct rt_httpc_req *rt__req_alloc(void);
/* Writes url without userinfo and query into out (for logs and messages). */
void rt__url_for_log(const char *url, char *out, size_t size);
/* Queues a prepared request (http or mail) on h. Returns: 0 or RT_ECANCELED (req freed). */
int rt__httpc_enqueue(struct rt_httpc *h, struct rt_httpc_req *req);
/* Returns: the backoff cap before retry n (1 = first retry): min(base * 2^(n-1), max). The delay
 * is a uniform random fraction of it (full jitter). */
int64_t rt__backoff_cap_ms(int64_t base_ms, int64_t max_ms, int retry);
/*
 * Test hook: from now on every curl_easy_setopt / curl_multi_setopt of option (a CURLOPT_* or
 * CURLMOPT_* value) fails as curl fails an option it does not know (CURLE_UNKNOWN_OPTION), without
 * calling curl; 0 turns it off. Lets tests check that a refused option becomes an error and the
 * transfer never starts.
 */
void rt__httpc_refuse_option(int option);
/* Returns: the client's CA file or NULL. */
const char *rt__httpc_ca_file(const struct rt_httpc *h);

#endif
