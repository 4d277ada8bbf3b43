"""Edge quality measured against known truth: synthetic composites with exact alpha and foreground
(synthetic), the standard matting figures (metrics), every edge mode scored in fresh processes
(runner, child) and zoomed crops of one edge side by side (crops)."""
