// SPDX-License-Identifier: MIT OR GPL-2.0
/* Tests only: a program that shares the agent's program name (fib_offload)
 * but none of its maps. The agent must never take it for its own: apply
 * refuses the port it runs on and flush leaves it attached. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

SEC("xdp")
int fib_offload(struct xdp_md *ctx)
{
	return XDP_PASS;
}
