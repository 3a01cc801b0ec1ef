//! The plugin SDK (filled in by the plugin-platform issue).
