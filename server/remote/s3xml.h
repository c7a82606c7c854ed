/*-------------------------------------------------------------------------
 *
 * s3xml.h
 *	  The few S3 XML documents stratad reads and writes: error bodies,
 *	  ListObjectsV2 pages, multipart upload ids, multi-object delete
 *	  results; and the bodies of multi-object delete and multipart
 *	  completion.
 *
 * Parsing is libxml2's (no network, no DTD loading, no entity
 * substitution beyond the predefined ones, no messages on stderr); these
 * functions only pick elements out by local name, so a namespace or none
 * both work.  Input is untrusted (a server or a man in the middle):
 * anything unexpected is STRATA_EPROTO, never a crash (fuzz/fuzz_s3xml.c).
 * Text is copied into caller buffers, cut to fit and NUL-terminated (""
 * when absent or on failure).
 *
 * Any thread (xmlInitParser() is done once, here).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_S3XML_H
#define STRATA_S3XML_H

#include <stddef.h>
#include <stdint.h>

#define S3XML_BODY_MAX	(16u << 20)	/* larger responses are refused */

/* <Error><Code>..</Code><Message>..</Message></Error>; STRATA_EPROTO if not one. */
extern int	s3xml_error(const char *body, size_t len, char *code, size_t codelen,
						char *msg, size_t msglen);

struct s3xml_entry
{
	char	   *key;			/* malloc'd */
	uint64_t	size;
};

struct s3xml_list
{
	struct s3xml_entry *entries;	/* malloc'd, in document order */
	size_t		n;
	int			truncated;		/* IsTruncated was "true" */
	char	   *next_token;		/* NextContinuationToken, malloc'd, or NULL */
};

/*
 * A ListBucketResult.  Every Contents needs a non-empty Key and a decimal
 * Size; truncated without a token is STRATA_EPROTO.  On error *out is
 * empty.  s3xml_list_free() either way.
 */
extern int	s3xml_list_parse(const char *body, size_t len, struct s3xml_list *out);
extern void s3xml_list_free(struct s3xml_list *l);

/* InitiateMultipartUploadResult's UploadId. */
extern int	s3xml_upload_id(const char *body, size_t len, char *id, size_t idlen);

/*
 * A DeleteResult: 0 if it has no Error entries, else STRATA_EREMOTE with
 * the first failed key, its code and message.
 */
extern int	s3xml_delete_result(const char *body, size_t len, char *key, size_t keylen,
								char *code, size_t codelen, char *msg, size_t msglen);

/* Whether the root element is named `name` (CompleteMultipartUploadResult). */
extern int	s3xml_root_is(const char *body, size_t len, const char *name);

/*
 * Append s to buf (malloc'd, *len used, *cap allocated) with XML's five
 * special characters escaped; STRATA_ENOMEM.
 */
extern int	s3xml_append(char **buf, size_t *len, size_t *cap, const char *s, int escape);

#endif							/* STRATA_S3XML_H */
