/*
 * xml.h - a small bounded XML scanner for the few elements AWS replies carry: S3 listings,
 * <Error> / <ErrorResponse> bodies, CopyObjectResult, the STS credentials reply.
 *
 * No tree and no allocation: a caller walks an element's direct children (name and inner span),
 * picks the ones it knows, and decodes character data into a struct rt_buf. Processing
 * instructions, comments and DOCTYPE declarations are skipped, never interpreted (no external
 * entities, no entity expansion beyond the five predefined ones and numeric references), nesting
 * is limited to 64 levels, and every scan stays inside the span it was given, so hostile input
 * can only make a call fail with RT_EPARSE. Used by aws/ (protocol errors, S3) and creds/ (STS);
 * it lives in core so both share one implementation.
 */
#ifndef RETRAIND_XML_H
#define RETRAIND_XML_H

#include <stddef.h>

#include "retraind/buf.h"

/*
 * Iterates the direct child elements of an element's inner text. Start with *pos = 0.
 * Returns: 1 with *name (local name, prefix dropped) and *inner (between the tags; empty for
 * <X/>) set and *pos advanced; 0 at the end; RT_EPARSE when malformed or nested deeper than 64.
 */
int rt_xml_next_child(struct rt_str parent, size_t *pos, struct rt_str *name, struct rt_str *inner);
/* Finds the document's root element. Returns: 1 with name/inner, 0 if none, or RT_EPARSE. */
int rt_xml_root(struct rt_str doc, struct rt_str *name, struct rt_str *inner);
/* Finds the first direct child named name. Returns: 1 (inner set), 0 absent, or RT_EPARSE. */
int rt_xml_child(struct rt_str parent, const char *name, struct rt_str *inner);
/*
 * Follows path, element local names separated by '/', from the root of doc: the first name must
 * be the root's, each later one a direct child of the one before (the first of that name), e.g.
 * "ErrorResponse/Error/Code". Returns: 1 with *inner set, 0 when an element is absent, RT_EPARSE.
 */
int rt_xml_path(struct rt_str doc, const char *path, struct rt_str *inner);
/*
 * Appends the decoded text of inner to out: character data and CDATA, entities decoded, child
 * tags skipped. Returns: 0, RT_EPARSE (a bad entity) or the rt_buf error.
 */
int rt_xml_text(struct rt_str inner, struct rt_buf *out);
/*
 * Appends the decoded text of the element at path (rt_xml_path) to out, without the whitespace
 * around it (pretty-printed replies indent their values). For secrets, give a buffer the caller
 * wipes (rt_buf_cleanup_secret). Returns: 1, 0 absent, RT_EPARSE, or the rt_buf error.
 */
int rt_xml_path_text(struct rt_str doc, const char *path, struct rt_buf *out);
/* Decodes the child's text into out[size] (truncated to fit). Returns: 1, 0 absent, RT_EPARSE. */
int rt_xml_child_text(struct rt_str parent, const char *name, char *out, size_t size);

#endif
