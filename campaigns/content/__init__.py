"""What the coach writes, as data: the shipped defaults (Markdown files with front matter,
the worksheet's words, the pages' texts) and the versions the coach publishes over them.

`store` keeps the versions; `markdown` turns an email's Markdown into the templates
`campaigns.render` fills.
"""
