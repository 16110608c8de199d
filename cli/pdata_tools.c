/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pdata_tools: every dmmeta tool in one binary, called the way distributions and
 * scripts call thin-provisioning-tools' multi-call binary:
 *
 *   pdata_tools <command> [args...]     run <command> with argv[0] = "<command>"
 *   <command> [args...]                 through a link to pdata_tools named <command>
 *
 * Each tool is its own cli/<tool>.c compiled a second time with -Dmain=<tool>_main
 * (GNUmakefile, $(BUILDDIR)/multicall/); the generated multicall_tools.h declares
 * those functions and lists them in DMMETA_MULTICALL_TOOLS(X), sorted by name.
 * The command's output and exit status are exactly those of the separate tool.
 *
 * As in thin-provisioning-tools 1.x, a missing command prints the usage on stderr
 * and an unknown one also a line naming it; both exit 64.  Unlike it, -h/--help and
 * -V/--version are understood in place of the command (help on stdout, exit 0).
 */
#include "common.h"
#include "multicall_tools.h"

#include <stdio.h>
#include <string.h>

/* thin-provisioning-tools 1.x: a missing or unknown command (EX_USAGE). */
#define EXIT_NO_COMMAND 64

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
};

#define X(t) { #t, t##_main },
static const struct command commands[] = { DMMETA_MULTICALL_TOOLS(X) };
#undef X

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	size_t i;
	fputs("Usage: pdata_tools <command> [args...]\n"
	      "       <command> [args...]   (through a link to pdata_tools named <command>)\n"
	      "Run one of the dmmeta tools: output and exit status are those of the tool.\n"
	      "\n"
	      "Options (in place of the command):\n"
	      "  -h, --help     print this help and exit\n"
	      "  -V, --version  print the version and exit\n"
	      "\n"
	      "commands:\n",
	      f);
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %s\n", commands[i].name);
	fputs("\n"
	      "Exit status: that of the command; 64 for a missing or unknown command.\n",
	      f);
}

static const struct command *lookup(const char *name)
{
	size_t i;
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const char *self = "pdata_tools", *name, *slash;
	const struct command *c;

	if (argc > 0 && argv[0] && argv[0][0]) {
		slash = strrchr(argv[0], '/');
		self = slash ? slash + 1 : argv[0];
	}
	cli_init("pdata_tools");
	if (strcmp(self, "pdata_tools") == 0) {
		if (argc < 2) {
			usage(stderr);
			return EXIT_NO_COMMAND;
		}
		name = argv[1];
		if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
			usage(stdout);
			return EXIT_OK;
		}
		if (strcmp(name, "-V") == 0 || strcmp(name, "--version") == 0) {
			cli_print_version();
			return EXIT_OK;
		}
		argc--;
		argv++;
	} else {
		name = self;
	}
	c = lookup(name);
	if (!c) {
		fprintf(stderr, "pdata_tools: unrecognised command '%s'\n", name);
		usage(stderr);
		return EXIT_NO_COMMAND;
	}
	return c->fn(argc, argv);
}
