-- luacheck configuration: `make lint` checks every Lua file of the tree.
std = "lua54"
max_line_length = 130
files["spec/**/*_spec.lua"] = { std = "+busted" }
-- specs spell out whole expected error messages
files["spec/**/*_spec.lua"].max_line_length = 180
