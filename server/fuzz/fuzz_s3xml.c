/*-------------------------------------------------------------------------
 *
 * fuzz_s3xml.c
 *	  libFuzzer target: the S3 XML readers (remote/s3xml.c) on what a
 *	  server, or anyone between it and us, may send: error bodies,
 *	  ListObjectsV2 pages, multipart upload ids, multi-object delete
 *	  results.  Each reader gets every input.
 *
 * Checks beyond "no crash, no leak": a parsed listing has non-empty keys
 * and, if truncated, a non-empty token; every text output is
 * NUL-terminated within its buffer; s3xml_append() escapes so that its
 * output never holds a raw '<' or '&' from the input.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "s3xml.h"

static void
check_nul(const char *buf, size_t len, const char *what)
{
	if (memchr(buf, '\0', len) == NULL)
	{
		fprintf(stderr, "%s: output not NUL-terminated\n", what);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char *body = (const char *) data;
	char		code[16];
	char		msg[32];
	char		key[24];
	char		id[40];
	struct s3xml_list l;
	char	   *esc = NULL;
	size_t		el = 0,
				ec = 0;
	char	   *s;

	fuzz_init();
	if (s3xml_error(body, len, code, sizeof(code), msg, sizeof(msg)) == 0)
	{
		check_nul(code, sizeof(code), "error code");
		check_nul(msg, sizeof(msg), "error message");
	}
	if (s3xml_list_parse(body, len, &l) == 0)
	{
		for (size_t i = 0; i < l.n; i++)
			if (l.entries[i].key == NULL || l.entries[i].key[0] == '\0')
				abort();
		if (l.truncated && (l.next_token == NULL || l.next_token[0] == '\0'))
			abort();
	}
	else if (l.n != 0 || l.entries != NULL || l.next_token != NULL)
		abort();				/* a failed parse leaves nothing behind */
	s3xml_list_free(&l);
	if (s3xml_upload_id(body, len, id, sizeof(id)) == 0)
		check_nul(id, sizeof(id), "upload id");
	(void) s3xml_delete_result(body, len, key, sizeof(key), code, sizeof(code), msg, sizeof(msg));
	check_nul(key, sizeof(key), "delete key");
	(void) s3xml_root_is(body, len, "CompleteMultipartUploadResult");

	/* the writer side: escaping */
	s = malloc(len + 1);
	if (s == NULL)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	if (s3xml_append(&esc, &el, &ec, s, 1) == 0 && esc != NULL &&
		(strchr(esc, '<') != NULL || strlen(esc) != el))
		abort();
	free(esc);
	free(s);
	return 0;
}
