/*
 * label_report.h - what `retraind label-job status N --json` prints (DESIGN.md's JSON shapes),
 * built from the journal: the job's row, its tasks and every answer, consolidated with
 * Dawid-Skene (consolidate.h) so the per-label counts and the workers' quality are the
 * consolidation's, not a vote count.
 *
 *   {"name": N, "state": "running"|"done"|..., "kind": "label"|"verify", "total": N,
 *    "labeled": N, "answers": N, "labels": {LABEL: COUNT...},
 *    "workers": {WORKER: {"answers": N, "quality": Q}...}, "output_manifest": KEY|null}
 *
 * "labeled" counts the images whose task has all the answers it needs; "labels" counts their
 * consolidated labels; "quality" is the estimated probability that the worker's answer is right
 * (consolidate's accuracy, 0..1).
 */
#ifndef RETRAIND_LABEL_REPORT_H
#define RETRAIND_LABEL_REPORT_H

#include "retraind/error.h"
#include "retraind/journal.h"

/*
 * Builds the report of job name. *json_out is a new string (rt_free it).
 * Returns: 0, RT_ENOTFOUND (no such job), RT_ENOMEM, or a journal error; err says why.
 */
int rt_label_job_report(struct rt_journal *j,
                        const char *name,
                        char **json_out,
                        struct rt_error *err);

#endif
