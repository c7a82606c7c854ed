/*-------------------------------------------------------------------------
 *
 * fuzz_proto_req.c
 *	  libFuzzer target: the pagestream request decoder (proto_decode_req),
 *	  which stratad runs on every CopyData frame a compute sends.
 *
 * Beyond "no crash, no read past len": a frame that decodes must encode
 * back to exactly the same bytes, since the decoder promises to reject
 * trailing bytes and unknown tags, and encoder and decoder share one
 * table.  A difference means the two directions disagree on the layout.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "proto.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static uint8_t out[PROTO_MAX_FRAME];
	struct proto_req req;
	size_t		n;

	fuzz_init();
	if (proto_decode_req(data, len, &req) != 0)
		return 0;
	if (!proto_is_request(req.tag) || proto_req_size(req.tag) != len)
	{
		fprintf(stderr, "decoded request tag %u of %zu bytes is not a known request size\n",
				req.tag, len);
		abort();
	}
	(void) proto_tag_name(req.tag);
	n = proto_encode_req(&req, out, sizeof(out));
	if (n != len || memcmp(out, data, len) != 0)
	{
		fprintf(stderr, "request tag %u: %zu bytes decode, re-encode to %zu different bytes\n",
				req.tag, len, n);
		abort();
	}
	return 0;
}
