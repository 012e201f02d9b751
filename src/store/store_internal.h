/*
 * store_internal.h - what the store folder shares with its own benchmark, not part of the API.
 *
 * Design: a full listing stats every key for its size, mtime and ETag, and on a machine where a
 * syscall costs a microsecond or more that stat bounds the listing to a few hundred thousand keys
 * per second. Counting training images needs only the keys. This entry point lists without the
 * stat; docs/store.md proposes it as a flag of ops->list in include/retraind/store.h.
 */
#ifndef RETRAIND_STORE_INTERNAL_H
#define RETRAIND_STORE_INTERNAL_H

#include "retraind/store.h"

/*
 * As s->ops->list on a local store, but entries carry only the key: size -1, mtime_ms 0 and etag
 * NULL. Same paging, ordering, skipping and callback rules.
 * Returns: 0, RT_EINVAL if s is not a local store, or what ops->list returns.
 */
int rt__store_local_list_keys(
    struct rt_store *s, const char *prefix, size_t page_size, rt_store_page_fn *cb, void *ud);

#endif
