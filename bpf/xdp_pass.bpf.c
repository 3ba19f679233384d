// SPDX-License-Identifier: MIT OR GPL-2.0
/* For the far end of a veth pair that receives redirected frames: veth
 * delivers XDP-redirected frames only to a peer that is up and has an XDP
 * program attached (or GRO enabled). This one passes everything. Used by the
 * tests and the lab on the namespaces' side of dut's veth ports. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
