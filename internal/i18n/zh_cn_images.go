package i18n

// zhCNImages is the Simplified Chinese of enImages, in the terms of
// shared/zh-CN-glossary.md (镜像, 磁盘, 上传). A key zh-CN lacks falls
// back to English (T).
var zhCNImages = map[string]string{
	"images.refused_backing_file":       "该镜像引用了后端文件 (backing file)，不允许使用。请上传不依赖其他文件的镜像，例如用 qemu-img convert 生成的镜像。",
	"images.refused_data_file":          "该镜像引用了外部数据文件 (data file)，不允许使用。请上传不依赖其他文件的镜像，例如用 qemu-img convert 生成的镜像。",
	"images.refused_encrypted":          "该镜像已加密，不支持加密镜像。",
	"images.refused_format_mismatch":    "镜像的磁盘格式为 %s，但文件实际是 %s。请按文件的实际磁盘格式创建镜像。",
	"images.refused_unsupported_format": "不支持磁盘格式 %s。",
	"images.refused_invalid":            "该文件不是有效的 %s 镜像。",
}

func init() { mergeLang("zh-CN", zhCNImages) }

// mergeLang adds part to the catalogue of lang, creating it when it is the
// first part; a key defined twice is a bug caught at start.
func mergeLang(lang string, part map[string]string) {
	c := catalogues[lang]
	if c == nil {
		c = map[string]string{}
		catalogues[lang] = c
	}
	for k, v := range part {
		if _, dup := c[k]; dup {
			panic("duplicate " + lang + " catalogue key " + k)
		}
		c[k] = v
	}
}
