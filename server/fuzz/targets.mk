# libFuzzer targets (issue 12), included by server/Makefile.
#
# A target NAME is fuzz/fuzz_NAME.c (defining LLVMFuzzerTestOneInput) with
# seeds in fuzz/corpus/NAME/; adding one is that file plus a line here.
# FUZZ_LIB lists the server modules the targets link against; a target
# of another subsystem adds that subsystem's modules to it.

FUZZ_TARGETS =
FUZZ_TARGETS += proto_req
FUZZ_TARGETS += proto_resp
FUZZ_TARGETS += layerfile
FUZZ_TARGETS += manifest
FUZZ_TARGETS += jsonfile
FUZZ_TARGETS += inmem_log
FUZZ_TARGETS += identity
FUZZ_TARGETS += s3xml
FUZZ_TARGETS += rs_url

FUZZ_LIB = $(COMMON) $(BASE) $(DURABILITY) $(FORMAT) rs_url s3xml remote rs_file rs_s3
