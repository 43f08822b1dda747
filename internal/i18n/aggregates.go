package i18n

// Host aggregate strings (Admin > Host Aggregates), English and Simplified
// Chinese (主机聚合, 可用域 as the glossary has them).
var enAggregates = map[string]string{
	"nav.aggregates":                "Host Aggregates",
	"aggregates.title":              "Host Aggregates",
	"aggregates.help":               "An aggregate groups hosts under metadata the scheduler reads: allocation ratios (cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio), per-host limits (max_instances_per_host, max_io_ops_per_host) and keys a flavor's extra specs must match. Its availability zone is the zone of its hosts.",
	"aggregates.name":               "Name",
	"aggregates.zone":               "Availability zone",
	"aggregates.create":             "Create host aggregate",
	"aggregates.empty":              "No host aggregates yet.",
	"aggregates.hosts":              "Hosts",
	"aggregates.no_hosts":           "none",
	"aggregates.add_host":           "Add host",
	"aggregates.remove_host":        "Remove",
	"aggregates.key":                "key",
	"aggregates.value":              "value (empty removes the key)",
	"aggregates.set_metadata":       "Set metadata",
	"aggregates.confirm_delete":     "Delete host aggregate %s?",
	"aggregates.created_flash":      "Host aggregate %s created.",
	"aggregates.deleted_flash":      "Host aggregate deleted.",
	"aggregates.host_added_flash":   "Host %s added.",
	"aggregates.host_removed_flash": "Host %s removed.",
	"aggregates.metadata_flash":     "Metadata %s set.",
	"aggregates.refused":            "Refused: %s",
}

var zhCNAggregates = map[string]string{
	"nav.aggregates":                "主机聚合",
	"aggregates.title":              "主机聚合",
	"aggregates.help":               "主机聚合把主机归为一组，并附带调度器读取的元数据：分配比率（cpu_allocation_ratio、ram_allocation_ratio、disk_allocation_ratio）、每台主机的上限（max_instances_per_host、max_io_ops_per_host），以及云主机类型的额外规格必须匹配的键。聚合的可用域即其主机所在的可用域。",
	"aggregates.name":               "名称",
	"aggregates.zone":               "可用域",
	"aggregates.create":             "创建主机聚合",
	"aggregates.empty":              "还没有主机聚合。",
	"aggregates.hosts":              "主机",
	"aggregates.no_hosts":           "无",
	"aggregates.add_host":           "添加主机",
	"aggregates.remove_host":        "移除",
	"aggregates.key":                "键",
	"aggregates.value":              "值（留空则删除该键）",
	"aggregates.set_metadata":       "设置元数据",
	"aggregates.confirm_delete":     "删除主机聚合 %s？",
	"aggregates.created_flash":      "已创建主机聚合 %s。",
	"aggregates.deleted_flash":      "已删除主机聚合。",
	"aggregates.host_added_flash":   "已添加主机 %s。",
	"aggregates.host_removed_flash": "已移除主机 %s。",
	"aggregates.metadata_flash":     "已设置元数据 %s。",
	"aggregates.refused":            "已拒绝：%s",
}

func init() {
	mergeLang("en", enAggregates)
	mergeLang("zh-CN", zhCNAggregates)
}
