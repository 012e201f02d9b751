/*
 * local_int.h - what the local store exposes to its own tests (not a public interface).
 */
#ifndef RETRAIND_STORE_LOCAL_INT_H
#define RETRAIND_STORE_LOCAL_INT_H

/*
 * Called by every page job of a listing on the thread that walks (a pool thread), before it
 * walks, with rt__store_local_walk_hook_ud. NULL in production. Tests set both before they start
 * a listing (uv_queue_work orders that write before the job) and clear them after the loop ran,
 * to record which thread walks or to hold a job while the loop thread goes on.
 */
typedef void rt__store_local_walk_hook_fn(void *ud);
extern rt__store_local_walk_hook_fn *rt__store_local_walk_hook;
extern void *rt__store_local_walk_hook_ud;

#endif
