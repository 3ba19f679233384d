// Numbers from the kernel's uapi (linux/rtnetlink.h, pkt_cls.h, pkt_sched.h,
// gen_stats.h, tc_act/*.h) that the tc codec uses.
export const RTM_NEWQDISC = 36;
export const RTM_DELQDISC = 37;
export const RTM_GETQDISC = 38;
export const RTM_NEWTFILTER = 44;
export const RTM_DELTFILTER = 45;
export const RTM_GETTFILTER = 46;

export const TCMSG_LEN = 20;
/** tcm_ifindex meaning "tcm_parent is a shared block index". */
export const TCM_IFINDEX_MAGIC_BLOCK = 0xffffffff;
export const TC_H_CLSACT = 0xfffffff1;
export const TC_H_CLSACT_HANDLE = 0xffff0000;

export const TCA_KIND = 1;
export const TCA_OPTIONS = 2;
export const TCA_CHAIN = 11;
export const TCA_INGRESS_BLOCK = 13;

export const TCA_FLOWER_INDEV = 2;
export const TCA_FLOWER_ACT = 3;
export const TCA_FLOWER_KEY_ETH_DST = 4;
export const TCA_FLOWER_KEY_ETH_DST_MASK = 5;
export const TCA_FLOWER_KEY_ETH_TYPE = 8;
export const TCA_FLOWER_KEY_IPV4_SRC = 10;
export const TCA_FLOWER_KEY_IPV4_SRC_MASK = 11;
export const TCA_FLOWER_KEY_IPV4_DST = 12;
export const TCA_FLOWER_KEY_IPV4_DST_MASK = 13;
export const TCA_FLOWER_KEY_IPV6_SRC = 14;
export const TCA_FLOWER_KEY_IPV6_SRC_MASK = 15;
export const TCA_FLOWER_KEY_IPV6_DST = 16;
export const TCA_FLOWER_KEY_IPV6_DST_MASK = 17;
export const TCA_FLOWER_FLAGS = 22;
export const TCA_FLOWER_KEY_IP_TTL = 75;
export const TCA_FLOWER_KEY_IP_TTL_MASK = 76;
export const TCA_FLOWER_IN_HW_COUNT = 86;

export const TCA_CLS_FLAGS_SKIP_HW = 1 << 0;
export const TCA_CLS_FLAGS_SKIP_SW = 1 << 1;
export const TCA_CLS_FLAGS_IN_HW = 1 << 2;
export const TCA_CLS_FLAGS_NOT_IN_HW = 1 << 3;

export const TCA_ACT_KIND = 1;
export const TCA_ACT_OPTIONS = 2;
export const TCA_ACT_STATS = 4;
export const TCA_ACT_COOKIE = 6;
export const TC_COOKIE_MAX_SIZE = 16;

export const TCA_STATS_BASIC = 1;
export const TCA_STATS_BASIC_HW = 7;

export const TCA_GACT_TM = 1;
export const TCA_GACT_PARMS = 2;
export const TCA_MIRRED_TM = 1;
export const TCA_MIRRED_PARMS = 2;
export const TCA_PEDIT_TM = 1;
export const TCA_PEDIT_PARMS_EX = 4;
export const TCA_PEDIT_KEYS_EX = 5;
export const TCA_PEDIT_KEY_EX = 6;
export const TCA_PEDIT_KEY_EX_HTYPE = 1;
export const TCA_PEDIT_KEY_EX_CMD = 2;
export const TCA_CSUM_PARMS = 1;
export const TCA_CSUM_TM = 2;

export const PEDIT_HTYPE_ETH = 1;
export const PEDIT_HTYPE_IP4 = 2;
export const PEDIT_HTYPE_IP6 = 3;
export const PEDIT_CMD_SET = 0;
export const PEDIT_CMD_ADD = 1;
export const TCA_CSUM_UPDATE_FLAG_IPV4HDR = 1;
export const TCA_EGRESS_REDIR = 1;

export const TC_ACT_OK = 0;
export const TC_ACT_PIPE = 3;
export const TC_ACT_STOLEN = 4;
export const TC_ACT_GOTO_CHAIN = 0x20000000;
export const TC_ACT_EXT_VAL_MASK = 0x0fffffff;

export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;

/** tcf_t times are clock_t: USER_HZ (100) ticks. */
export const USER_HZ = 100;
