/*-------------------------------------------------------------------------
 *
 * fuzz_proto_resp.c
 *	  libFuzzer target: the pagestream response decoder (proto_decode_resp),
 *	  which the extension runs on every frame stratad sends back.
 *
 * A response that decodes must encode back to the same bytes (through
 * proto_encode_resp, or proto_encode_error for an ERROR), and the page
 * and error text it points to must lie inside the frame.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "proto.h"

static void
fail(const char *what, const struct proto_resp *resp, size_t len)
{
	fprintf(stderr, "response tag %u, %zu bytes: %s\n", resp->tag, len, what);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static uint8_t out[PROTO_MAX_FRAME];
	struct proto_resp resp;
	size_t		n;

	fuzz_init();
	if (proto_decode_resp(data, len, &resp) != 0)
		return 0;
	if (resp.tag == PROTO_R_ERROR)
	{
		const uint8_t *m = (const uint8_t *) resp.errmsg;

		if (m < data || m >= data + len || m + strlen(resp.errmsg) >= data + len)
			fail("error text outside the frame", &resp, len);
		(void) proto_errcode_name(resp.errcode);
		n = proto_encode_error(&resp.req, resp.errcode, resp.errmsg, out, sizeof(out));
	}
	else
	{
		if (proto_resp_tag(resp.req.tag) != resp.tag)
			fail("echoes a request of another tag", &resp, len);
		if (resp.req.tag == PROTO_GETPAGE &&
			(resp.page < data || resp.page + PROTO_PAGE_SIZE > data + len))
			fail("page outside the frame", &resp, len);
		n = proto_encode_resp(&resp.req, &resp, out, sizeof(out));
	}
	if (n != len || memcmp(out, data, len) != 0)
		fail("re-encodes to different bytes", &resp, len);
	return 0;
}
