package i18n

// Resize and migration strings, in English and (in the glossary's terms:
// 调整大小, 确认调整大小, 回滚调整大小, 迁移, 待确认调整大小) Simplified
// Chinese.
var enResize = map[string]string{
	"instances.action.resize":         "Resize",
	"instances.action.confirm-resize": "Confirm resize",
	"instances.action.revert-resize":  "Revert resize",
	"instances.action.migrate":        "Migrate",
	"instances.confirm_revert_resize": "Revert %s to its old flavor and host? What it wrote since the resize is lost.",
	"instances.confirm_migrate":       "Move %s to another host? It is shut down for the move, then waits for you to confirm or revert.",
	"instances.verify_resize":         "%s now runs as %s on its new host. Confirm to keep it so, or revert to go back to %s.",
	"instances.resize_title":          "Resize instance",
	"instances.resize_flavor":         "Flavor",
	"instances.resize_current":        "now",
	"instances.resize_cores_after":    "Cores in use after",
	"instances.resize_ram_after":      "RAM in use after (MB)",
	"instances.resize_over":           "over quota",
	"instances.resize_none":           "No larger flavor is available.",
	"instances.resize_flash":          "Resizing %s: it is shut down, moved and started again, then waits for you to confirm.",
	"instances.resize_invalid":        "Choose a flavor the instance can be resized to.",
	"status.RESIZE":                   "Resizing",
	"status.VERIFY_RESIZE":            "Verify resize",
	"status.REVERT_RESIZE":            "Reverting resize",
	"instances.metadata":              "Metadata",
	"instances.metadata_value":        "value",
	"instances.metadata_add":          "Set",
	"instances.metadata_flash":        "Metadata saved.",
	"instances.tags":                  "Tags",
	"instances.tag_add":               "Add tag",
	"instances.tags_flash":            "Tags saved.",
	"instances.remove":                "Remove",
	"instances.label_refused":         "Refused: %s",
	"instances.row_actions":           "Actions",
}

var zhCNResize = map[string]string{
	"instances.action.resize":         "调整实例大小",
	"instances.action.confirm-resize": "确认调整大小",
	"instances.action.revert-resize":  "回滚调整大小",
	"instances.action.migrate":        "迁移",
	"instances.confirm_revert_resize": "将 %s 回滚到原来的云主机类型和主机？调整大小之后写入的数据将丢失。",
	"instances.confirm_migrate":       "将 %s 迁移到另一台主机？迁移期间实例会关机，之后等待您确认或回滚。",
	"instances.verify_resize":         "%s 现在以 %s 在新主机上运行。确认以保留，或回滚以恢复为 %s。",
	"instances.resize_title":          "调整实例大小",
	"instances.resize_flavor":         "云主机类型",
	"instances.resize_current":        "当前",
	"instances.resize_cores_after":    "调整后已用 vCPU",
	"instances.resize_ram_after":      "调整后已用内存（MB）",
	"instances.resize_over":           "超出配额",
	"instances.resize_none":           "没有可调整到的更大云主机类型。",
	"instances.resize_flash":          "正在调整 %s 的大小：实例将关机、迁移并重新启动，然后等待您确认。",
	"instances.resize_invalid":        "请选择该实例可以调整到的云主机类型。",
	"status.RESIZE":                   "调整大小中",
	"status.VERIFY_RESIZE":            "待确认调整大小",
	"status.REVERT_RESIZE":            "回滚调整大小中",
	"instances.metadata":              "元数据",
	"instances.metadata_value":        "值",
	"instances.metadata_add":          "设置",
	"instances.metadata_flash":        "元数据已保存。",
	"instances.tags":                  "标签",
	"instances.tag_add":               "添加标签",
	"instances.tags_flash":            "标签已保存。",
	"instances.remove":                "移除",
	"instances.label_refused":         "已拒绝：%s",
	"instances.row_actions":           "操作",
}

func init() {
	mergeLang("en", enResize)
	mergeLang("zh-CN", zhCNResize)
}
