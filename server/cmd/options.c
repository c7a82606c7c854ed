/*-------------------------------------------------------------------------
 *
 * options.c
 *	  Table-driven command-line parsing (see options.h).
 *
 * getopt_long() runs in its "return in order" mode (optstring starts with
 * '-'): each operand comes back as option 1, so options may sit before or
 * after the command without glibc's permutation (which POSIXLY_CORRECT
 * turns off) and without losing the operands' order.
 *
 *-------------------------------------------------------------------------
 */
#include "options.h"

#include <assert.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* getopt_long() values of long-only options: past every char */
#define LONG_ONLY_BASE 256

static int
takes_argument(enum opt_kind kind)
{
	return kind != OPT_FLAG && kind != OPT_HELP && kind != OPT_VERSION;
}

/* Build getopt_long()'s tables from specs; returns the number of specs. */
static int
build_tables(const struct opt_spec *specs, struct option *longopts, char *shortopts)
{
	int			n;
	char	   *s = shortopts;

	*s++ = '-';
	for (n = 0; specs[n].name != NULL; n++)
	{
		assert(n < OPT_MAX_SPECS);
		longopts[n].name = specs[n].name;
		longopts[n].has_arg = takes_argument(specs[n].kind) ? required_argument : no_argument;
		longopts[n].flag = NULL;
		longopts[n].val = specs[n].letter ? specs[n].letter : LONG_ONLY_BASE + n;
		if (specs[n].letter)
		{
			*s++ = specs[n].letter;
			if (takes_argument(specs[n].kind))
				*s++ = ':';
		}
	}
	memset(&longopts[n], 0, sizeof(longopts[n]));
	*s = '\0';
	return n;
}

static const struct opt_spec *
spec_of(const struct opt_spec *specs, int nspecs, int c)
{
	if (c >= LONG_ONLY_BASE && c < LONG_ONLY_BASE + nspecs)
		return &specs[c - LONG_ONLY_BASE];
	for (int i = 0; i < nspecs; i++)
		if (specs[i].letter != 0 && specs[i].letter == c)
			return &specs[i];
	return NULL;
}

/* Store one option's value. */
static enum opt_result
apply(const char *prog, const struct opt_spec *sp, const char *arg)
{
	switch (sp->kind)
	{
		case OPT_STRING:
			*(const char **) sp->dest = arg;
			break;
		case OPT_FLAG:
			*(int *) sp->dest = 1;
			break;
		case OPT_INT:
			*(int *) sp->dest = atoi(arg);
			break;
		case OPT_U32:
			*(uint32_t *) sp->dest = (uint32_t) strtoul(arg, NULL, 10);
			break;
		case OPT_U64:
			*(uint64_t *) sp->dest = strtoull(arg, NULL, 10);
			break;
		case OPT_ON_OFF:
			if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)
			{
				fprintf(stderr, "%s: --%s takes on or off\n", prog, sp->name);
				return OPT_BAD_VALUE;
			}
			*(int *) sp->dest = strcmp(arg, "on") == 0;
			break;
		case OPT_CALL:
			if (sp->call(arg) != 0)
				return OPT_BAD_VALUE;
			break;
		case OPT_HELP:
			return OPT_SHOW_HELP;
		case OPT_VERSION:
			return OPT_SHOW_VERSION;
	}
	return OPT_DONE;
}

enum opt_result
opt_parse(const char *prog, const struct opt_spec *specs, int argc, char **argv,
		  int *noperands)
{
	struct option longopts[OPT_MAX_SPECS + 1];
	char		shortopts[2 + 2 * OPT_MAX_SPECS];
	int			nspecs = build_tables(specs, longopts, shortopts);
	int			c;

	/*
	 * Operand k goes to argv[1 + k], a slot getopt has already passed: at
	 * least k earlier operands and argv[0] precede the current one.
	 */
	*noperands = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1)
	{
		const struct opt_spec *sp;
		enum opt_result r;

		if (c == 1)
		{
			argv[1 + (*noperands)++] = optarg;
			continue;
		}
		if ((sp = spec_of(specs, nspecs, c)) == NULL)
			return OPT_BAD_USAGE;
		if ((r = apply(prog, sp, optarg)) != OPT_DONE)
			return r;
	}
	/* after "--": the rest are operands */
	while (optind < argc)
		argv[1 + (*noperands)++] = argv[optind++];
	return OPT_DONE;
}
