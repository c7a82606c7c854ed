/*-------------------------------------------------------------------------
 *
 * options.h
 *	  Command-line parsing shared by stratad and stratactl.
 *
 * A command describes its options once, as a table of struct opt_spec:
 * the long name, an optional short letter, and where the value goes.
 * opt_parse() turns the table into getopt_long()'s, parses, converts and
 * stores each value, and gathers the operands (everything that is not an
 * option) in the order given.  Options and operands may be mixed freely,
 * as in PostgreSQL's own tools (pg_ctl -D DIR start, pg_ctl start -D DIR),
 * whatever POSIXLY_CORRECT says.  "--" ends the options.
 *
 * Numbers convert the way the commands always did (atoi(), strtoul(),
 * strtoull(), base 10): a malformed number is not an error here; callers
 * range-check what matters.
 *
 * Errors: getopt_long() prints unknown options and missing arguments;
 * opt_parse() prints a bad on/off value; an OPT_CALL handler prints its
 * own.  Any thread, but getopt's state is global: call it once, from main.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_OPTIONS_H
#define STRATA_OPTIONS_H

#include <stdint.h>

enum opt_kind
{
	OPT_STRING,					/* const char **dest = the argument */
	OPT_FLAG,					/* int *dest = 1; takes no argument */
	OPT_INT,					/* int *dest = atoi() */
	OPT_U32,					/* uint32_t *dest = strtoul() */
	OPT_U64,					/* uint64_t *dest = strtoull() */
	OPT_ON_OFF,					/* int *dest = 1 for "on", 0 for "off" */
	OPT_CALL,					/* call(argument): 0, or -1 once it said why */
	OPT_HELP,					/* stop and return OPT_SHOW_HELP */
	OPT_VERSION,				/* stop and return OPT_SHOW_VERSION */
};

struct opt_spec
{
	const char *name;			/* long name, without "--" */
	char		letter;			/* short option, or 0 for none */
	enum opt_kind kind;
	void	   *dest;			/* borrowed; unused by OPT_CALL/HELP/VERSION */
	int			(*call) (const char *arg);	/* OPT_CALL only */
};

/* Table entries; a table ends with OPT_END. */
#define OPT(name, letter, kind, dest)	{(name), (letter), (kind), (dest), NULL}
#define OPT_CALLBACK(name, fn)			{(name), 0, OPT_CALL, NULL, (fn)}
#define OPT_END							{NULL, 0, OPT_FLAG, NULL, NULL}

/* At most this many entries in one table. */
#define OPT_MAX_SPECS 48

enum opt_result
{
	OPT_DONE = 0,				/* all parsed */
	OPT_SHOW_HELP,				/* --help met; later arguments not parsed */
	OPT_SHOW_VERSION,			/* --version met; likewise */
	OPT_BAD_USAGE,				/* getopt complained: show the usage */
	OPT_BAD_VALUE,				/* a value was refused (and said why) */
};

/*
 * Parse argv[1..argc) against specs (ending with OPT_END) for the
 * command prog (used in messages).  Operands are moved, in order, to
 * argv[1..*noperands); argv's other slots are then unspecified.  On
 * OPT_SHOW_HELP and OPT_SHOW_VERSION, *noperands counts the operands
 * before that option, so "stratactl status --help" knows the command.
 */
extern enum opt_result opt_parse(const char *prog, const struct opt_spec *specs,
								 int argc, char **argv, int *noperands);

/* Exit codes of both commands (they go into the usage texts). */
#define OPT_EXIT_OK		0			/* success */
#define OPT_EXIT_FAIL	1			/* the operation failed */
#define OPT_EXIT_USAGE	2			/* bad usage: options, arguments */

#endif							/* STRATA_OPTIONS_H */
