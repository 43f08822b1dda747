package i18n

// zhCNLifecycle is the Simplified Chinese of the instance operations'
// strings, in the terms of shared/zh-CN-glossary.md (暂停, 取消暂停,
// 挂起, 恢复, 锁定, 解锁; the states 已暂停, 已挂起).
var zhCNLifecycle = map[string]string{
	"instances.action.pause":          "暂停",
	"instances.action.unpause":        "取消暂停",
	"instances.action.suspend":        "挂起",
	"instances.action.resume":         "恢复",
	"instances.action.lock":           "锁定",
	"instances.action.unlock":         "解锁",
	"instances.locked":                "已锁定",
	"instances.locked_help":           "已锁定：只有锁定它的用户或管理员可以对该实例执行操作。",
	"status.PAUSED":                   "已暂停",
	"status.SUSPENDED":                "已挂起",
	"power.paused":                    "已暂停",
	"power.suspended":                 "已挂起",
	"instances.action.rescue":         "救援",
	"instances.action.unrescue":       "取消救援",
	"instances.action.shelve":         "搁置实例",
	"instances.action.unshelve":       "取消搁置",
	"instances.action.shelve-offload": "搁置卸载",
	"instances.action.snapshot":       "创建快照",
	"instances.action.rebuild":        "重建实例",
	"instances.confirm_offload":       "将 %s 从其主机卸载？其磁盘将从该主机删除；取消搁置时会从搁置快照重新启动，可能在另一台主机上。",
	"instances.confirm_rebuild":       "重建 %s？其磁盘将被镜像的全新副本替换，磁盘上的所有数据都会丢失。",
	"instances.rescue_flash":          "实例正在启动救援系统，其原有磁盘作为第二块磁盘挂载。救援系统的 root 密码：%s",
	"instances.snapshot_name":         "快照名称",
	"instances.snapshot_flash":        "正在创建快照 %s；它会出现在镜像列表中，主机上传完成后变为可用。",
	"instances.snapshot_invalid":      "请为快照命名（最多 255 个字符）。",
	"instances.rebuild_image":         "镜像",
	"instances.rebuild_flash":         "正在重建实例。",
	"instances.rebuild_invalid":       "该镜像无法用于重建此实例（不存在、不可用，或超出其云主机类型的大小）。",
	"status.RESCUE":                   "救援",
	"status.REBUILD":                  "重建",
	"status.SHELVED":                  "已搁置",
	"status.SHELVED_OFFLOADED":        "已搁置卸载",
}

func init() { mergeLang("zh-CN", zhCNLifecycle) }
