/* SPDX-License-Identifier: GPL-2.0-only */
#include "util_thin.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <libmeta/error.h>

#include "common.h"

void cli_thin_reader_init(char **argv, struct meta_thin_open_opts *oo, struct cli_first_damage *fd)
{
	cli_init(argv[0]);
	argv[0] = (char *)cli_prog;
	memset(oo, 0, sizeof(*oo));
	memset(fd, 0, sizeof(*fd));
	oo->flags = META_THIN_OPEN_EXCL;
}

void cli_thin_reader_option(int c, struct meta_thin_open_opts *oo, void (*usage)(FILE *))
{
	if (c == 'm') {
		oo->flags = META_THIN_OPEN_METADATA_SNAP;
		oo->metadata_snap_block = optarg ? cli_u64_arg("--metadata-snap", optarg) : 0;
		return;
	}
	cli_help_or_version(c, usage);
	fprintf(stderr, "Try '%s --help' for more information.\n", cli_prog);
	exit(EXIT_USAGE);
}

int cli_thin_open(const char *path, const struct meta_thin_open_opts *oo, struct meta_thin **t)
{
	int r = meta_thin_open(path, oo, t);
	if (!r)
		return 0;
	cli_report_open_error(path, r, 0);
	return cli_exit_for(r);
}

int cli_thin_report_walk_error(const char *path, int r, const struct cli_first_damage *fd)
{
	if (r == META_E_CORRUPT)
		cli_report_first_damage(path, fd);
	else
		cli_err("%s: %s", path, meta_strerror(r));
	return cli_exit_for(r);
}

bool cli_thin_override_option(int c, const char *arg, struct meta_thin_restore_opts *o)
{
	switch (c) {
	case CLI_OPT_TRANSACTION_ID:
		o->set_transaction_id = true;
		o->transaction_id = cli_u64_arg("--transaction-id", arg);
		return true;
	case CLI_OPT_DATA_BLOCK_SIZE:
		o->set_data_block_size = true;
		o->data_block_size = cli_data_block_size_arg(arg);
		return true;
	case CLI_OPT_NR_DATA_BLOCKS:
		o->set_nr_data_blocks = true;
		o->nr_data_blocks = cli_nr_data_blocks_arg(arg);
		return true;
	default:
		return false;
	}
}

void cli_thin_writer_options(int argc, char **argv, void (*usage)(FILE *), bool with_force,
			     struct meta_thin_restore_opts *o, struct cli_thin_writer_args *a)
{
#define IO_OPTS {"input", required_argument, NULL, 'i'}, {"output", required_argument, NULL, 'o'}
	static const struct option plain[] = {
		IO_OPTS, CLI_THIN_OVERRIDE_LONGOPTS, CLI_COMMON_LONGOPTS,
	};
	static const struct option forcing[] = {
		IO_OPTS, CLI_THIN_OVERRIDE_LONGOPTS, {"force", no_argument, NULL, 'f'},
		CLI_COMMON_LONGOPTS,
	};
#undef IO_OPTS
	int c;
	memset(a, 0, sizeof(*a));
	while ((c = getopt_long(argc, argv, "i:o:qhV", with_force ? forcing : plain, NULL)) != -1) {
		if (c == 'i')
			a->input = optarg;
		else if (c == 'o')
			a->output = optarg;
		else if (c == 'f')
			a->force = true;
		else if (!cli_thin_override_option(c, optarg, o))
			cli_common_option(c, usage);
	}
}

int cli_thin_open_data_dev(const char *path, const char *perm_why, struct meta_io **io)
{
	int r = meta_io_open(path, META_IO_WRITE | META_IO_EXCL, io);
	switch (r) {
	case META_OK:
		return 0;
	case META_E_BUSY:
		cli_err("cannot open data device %s exclusively: device is in use. %s cannot "
			"be run on a live pool: deactivate the pool first",
			path, cli_prog);
		break;
	case META_E_NOENT:
		cli_err("%s: Couldn't find the data device (no such file or directory)", path);
		break;
	case META_E_ISDIR:
		cli_err("%s: the data device is not a block device or regular file", path);
		break;
	case META_E_PERM:
		cli_err("%s: data device: permission denied (%s)", path, perm_why);
		break;
	default:
		cli_err("%s: cannot open the data device: %s", path, meta_strerror(r));
		break;
	}
	return EXIT_OPERR;
}
