// SPDX-License-Identifier: MIT OR GPL-2.0
/* Tests and benches only: runs many frames through a pinned XDP program with
 * BPF_PROG_TEST_RUN in one process (bpftool prog run takes one frame per
 * process, which costs more than the program). Run it in the network
 * namespace the ingress ifindexes belong to.
 *
 * Usage: prog-run-batch PINNED_PROG < requests > results
 * Request:  u32 ingress ifindex, u32 length, length bytes of frame.
 * Result:   u32 XDP action, u32 duration ns, u32 length, length bytes out
 *           (the frame after the program). All u32 host order. A refused run
 *           ends the program with a message on stderr and exit status 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>

#define MAX_FRAME 9216

static int read_full(void *buf, size_t n)
{
	return fread(buf, 1, n, stdin) == n ? 0 : -1;
}

int main(int argc, char **argv)
{
	static unsigned char in[MAX_FRAME], out[MAX_FRAME];
	__u32 hdr[2], res[3];
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PINNED_PROG < requests > results\n", argv[0]);
		return 2;
	}
	fd = bpf_obj_get(argv[1]);
	if (fd < 0) {
		fprintf(stderr, "prog-run-batch: bpf_obj_get(%s): %s\n", argv[1], strerror(errno));
		return 1;
	}
	while (read_full(hdr, sizeof(hdr)) == 0) {
		struct xdp_md ctx = { .data = 0, .ingress_ifindex = hdr[0] };
		LIBBPF_OPTS(bpf_test_run_opts, opts);

		if (hdr[1] > MAX_FRAME || read_full(in, hdr[1]) != 0) {
			fprintf(stderr, "prog-run-batch: truncated request\n");
			return 1;
		}
		ctx.data_end = hdr[1];
		opts.data_in = in;
		opts.data_size_in = hdr[1];
		opts.data_out = out;
		opts.data_size_out = sizeof(out);
		opts.ctx_in = &ctx;
		opts.ctx_size_in = sizeof(ctx);
		if (bpf_prog_test_run_opts(fd, &opts) != 0) {
			fprintf(stderr, "prog-run-batch: BPF_PROG_TEST_RUN: %s\n", strerror(errno));
			return 1;
		}
		res[0] = opts.retval;
		res[1] = opts.duration;
		res[2] = opts.data_size_out;
		if (fwrite(res, sizeof(res), 1, stdout) != 1 || fwrite(out, 1, opts.data_size_out, stdout) != opts.data_size_out)
			return 1;
	}
	return 0;
}
