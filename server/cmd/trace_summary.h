/*-------------------------------------------------------------------------
 *
 * trace_summary.h
 *	  Reading a page_trace file (pagetrace.h) and printing its summary:
 *	  total requests and errors, requests per relation, the hottest
 *	  blocks, and the request rate over time.  Used by stratactl page-trace.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_TRACE_SUMMARY_H
#define STRATA_TRACE_SUMMARY_H

#include <stdio.h>

/* Summarize the trace in path onto out (top: entries per list); 0 or 1 on error. */
extern int	trace_summary(const char *path, FILE *out, int top, int as_json);

#endif							/* STRATA_TRACE_SUMMARY_H */
