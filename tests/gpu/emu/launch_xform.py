"""launch_xform.py FILE.cu - prints FILE.cu with every CUDA launch
    NAME[<T...>]<<<grid, block, shared, stream>>>(args)
rewritten as
    emu_launch(dim3(grid), dim3(block), [&]() { NAME[<T...>](args); })
so that g++ compiles it against cuda_emu.h (run_emu_checks.sh)."""
import sys

def split_top(s):
    out, depth, cur = [], 0, ''
    for ch in s:
        if ch in '([{<': depth += 1
        if ch in ')]}>': depth -= 1
        if ch == ',' and depth == 0:
            out.append(cur); cur = ''
        else:
            cur += ch
    out.append(cur)
    return [x.strip() for x in out]

def xform(src):
    while True:
        i = src.find('<<<')
        if i < 0: return src
        # walk back over whitespace, template args, identifier
        j = i
        while src[j-1].isspace(): j -= 1
        if src[j-1] == '>':
            depth = 0
            k = j - 1
            while True:
                if src[k] == '>': depth += 1
                elif src[k] == '<': depth -= 1
                if depth == 0: break
                k -= 1
            j = k
        while src[j-1].isalnum() or src[j-1] == '_': j -= 1
        name = src[j:i].strip()
        e = src.index('>>>', i)
        cfg = split_top(src[i+3:e])
        p = src.index('(', e)
        depth, q = 0, p
        while True:
            if src[q] == '(': depth += 1
            elif src[q] == ')':
                depth -= 1
                if depth == 0: break
            q += 1
        args = src[p+1:q]
        rep = 'emu_launch(dim3(%s), dim3(%s), [&]() { %s(%s); })' % (
            cfg[0], cfg[1], ' '.join(name.split()), args)
        src = src[:j] + rep + src[q+1:]

sys.stdout.write(xform(open(sys.argv[1]).read()))
