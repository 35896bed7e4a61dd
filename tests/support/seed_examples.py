"""Every code example of the seed tutorials (/work/shared/seeds/*.txt), transcribed.

Each entry is (name, code, note). Plotting lines (``%matplotlib``, ``import matplotlib``,
``plt.*``) are dropped; prints are kept. ``note`` says how test_seeds.py treats it:

- "" : printed text must be identical in torch and in the engine (addresses masked);
- "random": the example draws random numbers (torch.rand); the two libraries cannot draw
  the same ones, so digits are masked before comparing (the shape of the output, the
  names and the None/True/False facts must still agree);
- "fragment: <why>": the tutorial shows a piece of code that cannot run on its own (an
  undefined network, optimizer...); it is kept here for completeness and skipped.

Examples whose tutorial text omits an import that the code needs get it added, marked
``# (added)``. Snippets named ``*_reconstructed`` rebuild a graph that a tutorial only
describes in prose, so that the printed facts it quotes can be checked.
"""

SEEDS = [
    # ---- 000_980b80f35fa954d4.txt: prose on torch.autograd.backward(); no code.

    # ---- 001_8c73ac97b5957666.txt: "TORCH01-07: Torch导数与自动求导"
    ("001_first_derivative", """\
import torch


# x自变量
x = torch.Tensor([5])
x.requires_grad=True

# y因变量
y = x ** 2

# 求导
y.backward()

# 导数的结果
print(x.grad)
""", ""),
    ("001_parabola", """\
import torch


# x自变量
x = torch.linspace(0, 10, 100)
x.requires_grad=True

# y因变量
y = (x - 5) ** 2 + 3
z = y.sum()
# 求导
z.backward()

print()

# print(x.grad)
# print(x)
""", ""),
    ("001_parabola_values", """\
import torch
# the parabola example again, printing what it plots (x, y and the derivative 2(x-5))
x = torch.linspace(0, 10, 100)
x.requires_grad=True
y = (x - 5) ** 2 + 3
z = y.sum()
z.backward()
print(x.detach())
print(y.detach())
print(x.grad.detach())
print(x)
print(y)
""", ""),
    ("001_attributes", """\
import torch


# x自变量
x = torch.Tensor([5])
x.requires_grad=True

# 求导前的属性
print("-------------求导前x")
print("leaf:", x.is_leaf)
print("grad_fn:", x.grad_fn)
print("grad:", x.grad)
# y因变量
y = x ** 2
print("-------------求导前y")
print("requires_grad:", y.requires_grad)
print("leaf:", y.is_leaf)
print("grad_fn:", y.grad_fn)
print("grad:", y.grad)
# 求导
y.backward()    # 只对标量运算

print("-------------求导后x")
# 求导后的属性
print("leaf:", x.is_leaf)
print("grad_fn:", x.grad_fn)
print("grad:", x.grad)
print("-------------求导后y")
print("requires_grad:", y.requires_grad)
print("leaf:", y.is_leaf)
print("grad_fn:", y.grad_fn)
print("grad:", y.grad)
""", ""),
    ("001_backward_with_vector", """\
import torch

x = torch.Tensor([1, 2, 3])
x.requires_grad=True         # 这个属性必须在 z = 2*x + 3*y 表达式构建图的时候设置

y = torch.Tensor([4, 5, 6])

z = 2*x + 3*y

z.backward(x)     # 对x求导,得到的结果,自然是 2,但是x的grad是 2 * x

print(x.grad, y.grad, z.grad)    # 没有对y求导,所以对y没有要求
""", ""),
    ("001_scalar_result", """\
import torch

x = torch.Tensor([2])
x.requires_grad=True
z = x**2                # 求导函数
z.backward()     # 对x求导,2 * x    ,导数为2x=4
print(x.grad, z.grad)
""", ""),
    ("001_vector_result", """\
import torch

x = torch.Tensor([2])
x.requires_grad=True
y = x**2               # 求导函数

y.backward(x)     # 2 x x = 8

print(x.grad, y.grad)
print(x.grad/x)    # 正宗结果
""", ""),
    ("001_no_leaf_requires_grad", """\
import torch
# the tutorial quotes: RuntimeError: element 0 of tensors does not require grad and does
# not have a grad_fn  (when no leaf requires grad)
x = torch.Tensor([1, 2, 3])
z = x ** 2
z.backward(torch.ones_like(x))
""", ""),
    ("001_two_leaves", """\
import torch

x = torch.Tensor([1, 2, 3])
y = torch.Tensor([4, 5, 6])

x.requires_grad=True
y.requires_grad=True

z = 3*x + 2*y                # 求导函数

z.backward(x)      # 对x求导

print(x.grad,  y.grad)  # [3., 6., 9.] :导数是3  与 [2., 4., 6.]:导数是2

print(x.grad/x,  y.grad/x)  # [3., 6., 9.] :导数是3  与 [2., 4., 6.]:导数是2
""", ""),
    ("001_ones_like_seed", """\
import torch

x = torch.Tensor([1, 2, 3])
x.requires_grad=True
z = x**2                # 求导函数
z.backward(torch.ones_like(x))
print(x.grad, z.grad)
""", ""),
    ("001_sum", """\
import torch

x = torch.Tensor([1, 2, 3])
x.requires_grad=True
z = (x**2).sum()                # 直接求和

z.backward()
print(x.grad, z.grad)
""", ""),
    ("001_complex_graph", """\
import torch

#  叶子节点

x = torch.Tensor([1, 2, 3])
y = torch.Tensor([3, 4, 5])
z = torch.Tensor([1, 2, 3])

x.requires_grad=True
y.requires_grad=True
z.requires_grad=True

# 中间节点
xy = x + y
xy2 = xy ** 2
z3 = z ** 3
xy2z3=xy2 * z3

# 求导数
xy2z3.backward(torch.Tensor([1.0, 1.0, 1.0]))
print(x.grad, y.grad, z.grad)
print(xy.grad, xy2.grad, z3.grad, xy2z3.grad)      # 没有梯度,因为不是叶子节点
print(xy.grad_fn, xy2.grad_fn, z3.grad_fn, xy2z3.grad_fn)
print(xy.requires_grad, xy2.requires_grad, z3.requires_grad, xy2z3.requires_grad)
""", ""),
    ("001_hook_intermediate", """\
import torch

#  叶子节点
x = torch.Tensor([1, 2, 3])
y = torch.Tensor([3, 4, 5])
z = torch.Tensor([1, 2, 3])

x.requires_grad=True
y.requires_grad=True
z.requires_grad=True

# 中间节点
xy = x + y
# xyz = xy * z
# xyz.backward(torch.Tensor([1, 1, 1]))

xyz = torch.dot(xy, z)
# ====================
def get_xy_grad(grad):
    print(F"xy的导数:{ grad }")   # 可以保存到全局变量使用。

xy.register_hook(get_xy_grad)

# ====================

xyz.backward()
print(x.grad, y.grad, z.grad)
print(xy.grad, y.grad, z.grad)
""", ""),
    ("001_higher_order_backward", """\
import torch

x = torch.Tensor([1])
x.requires_grad=True
z = x**6               # 求导函数
z.backward(create_graph=True)     # retain_graph保留的是本身的运算图,create_graph是保留微分图
print(x.grad)    # 导数3
# ====================
def get_xy_grad(grad):
    print(F"x.grad的高阶导数:{ grad }")   # 可以保存到全局变量使用。

x.register_hook(get_xy_grad)
# ====================
x.grad.backward(create_graph=True)
""", ""),
    ("001_higher_order_backward_after", """\
import torch
# the same example, printing what the second backward left behind
x = torch.Tensor([1])
x.requires_grad=True
z = x**6
z.backward(create_graph=True)
print(x.grad)
def get_xy_grad(grad):
    print(F"x.grad的高阶导数:{ grad }")
x.register_hook(get_xy_grad)
x.grad.backward(create_graph=True)
print(x.grad)
print(x.grad.grad_fn.name(), x.grad.grad_fn.next_functions[0][0].name())
""", ""),
    ("001_autograd_backward", """\
import torch

#  叶子节点
x = torch.Tensor([1, 2, 3])
y = torch.Tensor([3, 4, 5])
z = torch.Tensor([1, 2, 3])

x.requires_grad=True
y.requires_grad=True
z.requires_grad=True

# 中间节点
xy = x + y
# xyz = xy * z
# xyz.backward(torch.Tensor([1, 1, 1]))

xyz = torch.dot(xy, z)
# ====================
def get_xy_grad(grad):
    print(F"xy的导数:{ grad }")   # 可以保存到全局变量使用。

xy.register_hook(get_xy_grad)

# ====================

torch.autograd.backward(xyz)
print(x.grad, y.grad, z.grad)
print(xy.grad, y.grad, z.grad)
""", ""),
    ("001_grad_variables", """\
import torch
# the tutorial says grad_variables "can no longer be used in my version"
x = torch.Tensor([1, 2, 3])
x.requires_grad=True
y = (x ** 2).sum()
torch.autograd.backward(y, grad_variables=torch.tensor(1.))
print(x.grad)
""", ""),
    ("001_autograd_grad", """\
import torch

#  叶子节点
x = torch.Tensor([1, 2, 3])
y = torch.Tensor([3, 4, 5])
z = torch.Tensor([1, 2, 3])

x.requires_grad=True
y.requires_grad=True
z.requires_grad=True

# 中间节点
xy = x + y
xyz = torch.dot(xy, z)

# ====================
gd = torch.autograd.grad(xyz, x, retain_graph=True)

print(x.grad, y.grad, z.grad)
print(xy.grad, y.grad, z.grad)
print(gd)
print(torch.autograd.grad(xyz, xy,retain_graph=True))
print(torch.autograd.grad(xyz, y,retain_graph=True))
print(torch.autograd.grad(xyz, z,retain_graph=True, allow_unused=True))
# ====================
""", ""),
    ("001_autograd_grad_unused", """\
import torch
# allow_unused as the tutorial describes it: an input not used by the output
x = torch.Tensor([1, 2, 3])
y = torch.Tensor([3, 4, 5])
x.requires_grad=True
y.requires_grad=True
out = (x * 2).sum()
print(torch.autograd.grad(out, [x, y], retain_graph=True, allow_unused=True))
torch.autograd.grad(out, [x, y])
""", ""),
    ("001_grad_higher_order", """\
import torch

x = torch.Tensor([1])
x.requires_grad=True
z = x**6               # 求导函数

gd_1 = torch.autograd.grad(z, x, create_graph=True)

gd_2 = torch.autograd.grad(gd_1, x)
print(F"一阶导数:{gd_1},\\n二阶导数: {gd_2}")
""", ""),
    ("001_set_grad_enabled_global", """\
import torch


x = torch.Tensor([1, 2, 3])
y = torch.Tensor([3, 4, 5])
z = torch.Tensor([1, 2, 3])
x.requires_grad=True
y.requires_grad=True
z.requires_grad=True

torch.autograd.set_grad_enabled(False)   # 全局上下文
xy = x + y
xyz = torch.dot(xy, z)
torch.autograd.set_grad_enabled(True)


print(xy.requires_grad, xyz.requires_grad, z.requires_grad)
""", ""),
    ("001_set_grad_enabled_context", """\
import torch


x = torch.Tensor([1, 2, 3])
y = torch.Tensor([3, 4, 5])
z = torch.Tensor([1, 2, 3])
x.requires_grad=True
y.requires_grad=True
z.requires_grad=True

with torch.autograd.set_grad_enabled(False)  as grad_ctx:   # 局部上下文
    xy = x + y    # 块结束,作用范围自动结束

xyz = torch.dot(xy, z)
print(xy.requires_grad, xyz.requires_grad, z.requires_grad)
""", ""),
    ("001_enable_grad_decorator", """\
import torch


x = torch.Tensor([1, 2, 3])
y = torch.Tensor([3, 4, 5])
z = torch.Tensor([1, 2, 3])
x.requires_grad=True
y.requires_grad=True
z.requires_grad=True

@ torch.autograd.enable_grad()
def func_xy(x, y):
    return x + y    # 块结束,作用范围自动结束

xy = func_xy(x, y)

xyz = torch.dot(xy, z)
print(xy.requires_grad, xyz.requires_grad, z.requires_grad)
""", ""),
    ("001_enable_grad_context", """\
import torch


x = torch.Tensor([1, 2, 3])
y = torch.Tensor([3, 4, 5])
z = torch.Tensor([1, 2, 3])
x.requires_grad=True
y.requires_grad=True
z.requires_grad=True

with torch.autograd.enable_grad():
    xy = x + y

xyz = torch.dot(xy, z)
print(xy.requires_grad, xyz.requires_grad, z.requires_grad)
""", ""),
    ("001_no_grad_decorator", """\
import torch


x = torch.Tensor([1, 2, 3])
y = torch.Tensor([3, 4, 5])
z = torch.Tensor([1, 2, 3])
x.requires_grad=True
y.requires_grad=True
z.requires_grad=True

@ torch.autograd.no_grad()
def func_xy(x, y):
    return x + y    # 块结束,作用范围自动结束

xy = func_xy(x, y)

xyz = torch.dot(xy, z)
print(xy.requires_grad, xyz.requires_grad, z.requires_grad)
""", ""),
    ("001_no_grad_context", """\
import torch


x = torch.Tensor([1, 2, 3])
y = torch.Tensor([3, 4, 5])
z = torch.Tensor([1, 2, 3])
x.requires_grad=True
y.requires_grad=True
z.requires_grad=True

with torch.autograd.no_grad():
    xy = x + y

xyz = torch.dot(xy, z)
print(xy.requires_grad, xyz.requires_grad, z.requires_grad)
""", ""),
    ("001_no_grad_enable_grad_nested", """\
import torch


x = torch.Tensor([1, 2, 3])
y = torch.Tensor([3, 4, 5])
z = torch.Tensor([1, 2, 3])
x.requires_grad=True
y.requires_grad=True
z.requires_grad=True

with torch.autograd.no_grad():
    xy = x + y
    with torch.autograd.enable_grad():
        z3 = z **3
        xy2 = xy ** 2    # 因为xy的requires_grad=False,整个运算也是False

print(xy.requires_grad, z3.requires_grad, xy2.requires_grad)
""", ""),

    # ---- 002_fd0e334110f5285f.txt: "PyTorch的自动求导"
    ("002_requires_grad", """\
import torch  # (added)
a = torch.tensor(2.3, requires_grad=True)
print(a.is_leaf)
print(a)
""", ""),
    ("002_retain_graph_fragment", """\
import torch  # (added)
z.backward(retain_graph=True)
""", ""),  # as printed: z is undefined, both raise the same NameError
    ("002_graph_reconstructed", """\
import torch
# the graph the tutorial describes: y = w * x, z = y + b; leaves w, x, b
w = torch.tensor([1.], requires_grad=True)
x = torch.tensor([2.], requires_grad=True)
b = torch.tensor([3.], requires_grad=True)
y = w * x
z = y + b
print(z.grad_fn)
print([type(f).__name__ for f, _ in z.grad_fn.next_functions])
print([n for _, n in z.grad_fn.next_functions])
print(z.grad_fn.next_functions[1][0].variable is b)
z.backward(retain_graph=True)
print(w.grad, x.grad, b.grad)
z.backward(retain_graph=True)      # accumulates: b.grad goes from 1 to 2
print(w.grad, x.grad, b.grad)
w.grad.zero_(); x.grad.zero_(); b.grad.zero_()
z.backward()
print(w.grad, x.grad, b.grad)
z.backward()                        # the graph is freed now
""", ""),

    # ---- 003_a361aeb958664c89.txt: "关于backward()的一些理解"
    ("003_two_functions", """\
import torch  # (added)
from torch.autograd import Variable  # (added)
w1 = torch.Tensor([2]) #认为w1 与 w2 是函数f1 与 f2的参数
w1 = Variable(w1,requires_grad=True)
w2 = torch.Tensor([2])
w2 = Variable(w2,requires_grad=True)
x2 = torch.rand(1)
x2 = Variable(x2,requires_grad=True)
y2 = x2**w1 # f1 运算
z2 = w2*y2+1 # f2 运算
z2.backward()
print(x2.grad)
print(y2.grad)
print(w1.grad)
print(w2.grad)
""", "random"),
    ("003_two_functions_fixed", """\
import torch
from torch.autograd import Variable
# the same example with x2 fixed, so the values can be compared exactly
w1 = torch.Tensor([2])
w1 = Variable(w1,requires_grad=True)
w2 = torch.Tensor([2])
w2 = Variable(w2,requires_grad=True)
x2 = torch.Tensor([0.3])
x2 = Variable(x2,requires_grad=True)
y2 = x2**w1
z2 = w2*y2+1
z2.backward()
print(x2.grad)
print(y2.grad)
print(w1.grad)
print(w2.grad)
print(x2.is_leaf, w1.is_leaf, y2.is_leaf, w2.is_leaf)
""", ""),
    ("003_two_nets", """\
optimizer = torch.optim.SGD(itertools.chain(net1.parameters(), net2.parameters()),lr=0.001, momentum=0.9) # 这里 net1 和net2 优化的先后没有区别 !!
#
optimizer.zero_grad() #将参数的grad值初始化为0
#
# forward + backward + optimize
outputs1 = net1(inputs) #input 未置requires_grad为True,但不影响
outputs2 = net2(outputs1)
loss = criterion(outputs2, labels) #计算损失
loss.backward() #反向传播
#
print("inputs.requires_grad:")
print(inputs.requires_grad) # False
print("the grad of inputs:")
print(inputs.grad) # None
print("outputs1.requires_grad:")
print(outputs1.requires_grad) # True
print("the grad of outputs1:")
print(outputs1.grad) # None
#
print("the grad of net1:")
print(net1.conv1.bias.grad) # no-None
print("the grad of net2:")
print(net2.fc3.bias.grad) # no-None
#
optimizer.step() #用SGD更新参数
""", "fragment: needs the CIFAR-10 networks net1/net2, an optimizer and a data loader"),
    ("003_freeze_parameters", """\
for p in sub_module.parameters():p.requires_grad = False
""", "fragment: needs an nn.Module sub_module"),
    ("003_freeze_leaf_reconstructed", """\
import torch
# what the freezing advice means for plain leaves: a frozen leaf gets no grad, the rest do
p = torch.tensor([1., 2.], requires_grad=True)
q = torch.tensor([3., 4.], requires_grad=True)
p.requires_grad = False
out = (p * q).sum()
out.backward()
print(p.grad, q.grad, out.requires_grad)
""", ""),
    ("003_requires_grad_propagates", """\
import torch
# "requires_grad == True is transitive": z = f(x, y) requires grad if x does
x = torch.tensor([1., 2.], requires_grad=True)
y = torch.tensor([3., 4.])
z = x * y
print(x.requires_grad, y.requires_grad, z.requires_grad)
# detach(): same data, requires_grad False, a leaf; detach_() changes the tensor itself
d = z.detach()
print(d, d.requires_grad, d.is_leaf, d.grad_fn)
z.detach_()
print(z, z.requires_grad, z.is_leaf, z.grad_fn)
""", ""),

    # ---- 004_082306292a6cf01f.txt: "Pytorch: loss.backward()背后的原理"
    ("004_requires_grad", """\
import torch
# 创建一个张量,并设置 requires_grad=True
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
print(x)
""", ""),
    ("004_forward", """\
import torch  # (added)
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)  # (added: from the previous step)
y = x * 2
z = y.mean()
print(y, z)
""", ""),
    ("004_full_example", """\
import torch
# 创建一个张量,并设置 requires_grad=True
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
# 前向传播
y = x * 2
z = y.mean()
# 反向传播
z.backward()
# 输出梯度
print(x.grad)  # 输出: tensor([0.6667, 0.6667, 0.6667])
""", ""),

    # ---- the example (from engine import tensor, autograd)
    ("issue_example", """\
from torch import tensor, autograd
x = tensor([1.,2.,3.], requires_grad=True)
y = tensor([3.,4.,5.], requires_grad=True)
xy = x + y
xy.retain_grad()
out = (xy ** 2 * x ** 3).sum()
out.backward(retain_graph=True)
print(x.grad, xy.grad, out.grad_fn.name(), out.grad_fn.next_functions)
print(y.grad)
out.backward()
print(x.grad, xy.grad)
out.backward()
""", ""),
]
