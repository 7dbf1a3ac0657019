-- A busted output handler that shows the run with another handler (the one
-- named by SMO_BUSTED_OUTPUT: utfTerminal, TAP, json...; by default busted's
-- own choice) and writes the counts, machine-readable, to the file named by
-- SMO_BUSTED_COUNTS: "successes failures errors pending".  tools/run-tests.sh
-- uses it so that its summary never depends on a handler's text.
return function(options)
  local busted = require("busted")
  local name = os.getenv("SMO_BUSTED_OUTPUT")
  if name == nil or name == "" then name = options.defaultOutput end
  local make
  if name:match("%.lua$") then
    make = dofile(name)
  else
    local ok, m = pcall(require, "busted.outputHandlers." .. name)
    make = ok and m or require(name)
  end
  local handler = make(options)
  local file = os.getenv("SMO_BUSTED_COUNTS")
  busted.subscribe({ "suite", "end" }, function()
    if file then
      local f = assert(io.open(file, "w"))
      f:write(("%d %d %d %d\n"):format(handler.successesCount, handler.failuresCount, handler.errorsCount,
        handler.pendingsCount))
      f:close()
    end
    return nil, true
  end)
  return handler
end
